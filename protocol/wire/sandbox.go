package wire

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// SandboxReport is what a worker's process sandbox applied, read back by
// the worker from the kernel (/proc/self/status, prctl, capget) once every
// layer is in place and before any function code runs. The supervisor
// checks it (and, where it can, /proc/<pid>/status itself).
type SandboxReport struct {
	// UID and GID are the worker's real, effective, saved and filesystem
	// ids as the kernel lists them (all four must be equal); Groups its
	// supplementary groups.
	UID    [4]int
	GID    [4]int
	Groups []int
	// Capability sets (bit masks) and securebits.
	CapInh, CapPrm, CapEff, CapBnd, CapAmb uint64
	Securebits                             uint32
	NoNewPrivs                             bool
	// SeccompMode is the kernel's Seccomp: field (2: filter) and
	// SeccompFilters the number of filters installed.
	SeccompMode    int
	SeccompFilters int
	// LandlockABI is the kernel's Landlock ABI (0: none) and Landlock says
	// what was enforced: "enforced", "unavailable: ..." or "failed: ...".
	LandlockABI int
	Landlock    string
	// FDs lists the open descriptors when the sandbox was applied, as
	// "N target" (readlink of /proc/self/fd/N); InheritedFDsClosed counts
	// the descriptors above 2 the worker found open at start and closed.
	FDs                []string
	InheritedFDsClosed int
	// Errors are the steps that failed.
	Errors []string
}

// ParseProcStatus fills the identity, capability, no_new_privs and seccomp
// fields of rep from the text of /proc/<pid>/status.
func (rep *SandboxReport) ParseProcStatus(b []byte) error {
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Uid", "Gid":
			ids := &rep.UID
			if key == "Gid" {
				ids = &rep.GID
			}
			f := strings.Fields(val)
			if len(f) != 4 {
				return fmt.Errorf("parse %s: %q", key, val)
			}
			for i := range f {
				if ids[i], err = strconv.Atoi(f[i]); err != nil {
					return fmt.Errorf("parse %s: %w", key, err)
				}
			}
		case "Groups":
			rep.Groups = nil
			for _, g := range strings.Fields(val) {
				n, err := strconv.Atoi(g)
				if err != nil {
					return fmt.Errorf("parse Groups: %w", err)
				}
				rep.Groups = append(rep.Groups, n)
			}
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			v, err := strconv.ParseUint(val, 16, 64)
			if err != nil {
				return fmt.Errorf("parse %s: %w", key, err)
			}
			switch key {
			case "CapInh":
				rep.CapInh = v
			case "CapPrm":
				rep.CapPrm = v
			case "CapEff":
				rep.CapEff = v
			case "CapBnd":
				rep.CapBnd = v
			default:
				rep.CapAmb = v
			}
		case "NoNewPrivs":
			rep.NoNewPrivs = val == "1"
		case "Seccomp":
			rep.SeccompMode, err = strconv.Atoi(val)
		case "Seccomp_filters":
			rep.SeccompFilters, err = strconv.Atoi(val)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("parse %s: %w", key, err)
		}
		seen++
	}
	if seen < 9 {
		return fmt.Errorf("/proc status has %d of the sandbox fields", seen)
	}
	return nil
}
