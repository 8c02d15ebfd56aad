package supervisor

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// moveIn moves process pid (all its threads) into the worker's cgroup(s):
// how a spare worker, started in its spare cgroup, comes under the limits
// of the function that takes it. The memory it was charged before stays
// charged where it was (neither v2 nor a current v1 kernel moves charges);
// the worker's own heap watch counts its whole resident size.
func (c *workerCgroup) moveIn(pid int) error {
	if c.version == 2 {
		return c.adopt(pid)
	}
	for _, ctl := range cgroupV1Controllers {
		if err := writeFile(filepath.Join(c.dirs[ctl], "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("move worker %d into %s: %w", pid, c.dirs[ctl], err)
		}
	}
	return nil
}
