//go:build !linux

package supervisor

import (
	"os/exec"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// spawner starts workers directly: without Linux there is neither
// Pdeathsig nor cgroups to step into.
type spawner struct{}

func newSpawner(hclog.Logger) *spawner { return &spawner{} }

func (sp *spawner) start(cmd *exec.Cmd, _ *workerCgroup) error { return cmd.Start() }

func (sp *spawner) close() {}

func workerSysProcAttr(*workerCgroup) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
