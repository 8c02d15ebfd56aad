//go:build !linux

package supervisor

import (
	"github.com/hashicorp/go-hclog"
	"github.com/picloud/picloud/functions"
)

// cgroupManager reports limits as unenforced: cgroups are Linux-only.
type cgroupManager struct{}

// workerCgroup is never created outside Linux.
type workerCgroup struct{}

func newCgroupManager(string, bool, hclog.Logger) *cgroupManager { return &cgroupManager{} }

func (m *cgroupManager) enforced() bool { return false }

func (m *cgroupManager) mode() string { return "none: cgroups need Linux" }

func (m *cgroupManager) create(string, functions.Limits) (*workerCgroup, error) { return nil, nil }

func (m *cgroupManager) close() {}

func (c *workerCgroup) oomKilled() bool { return false }

func (c *workerCgroup) remove(hclog.Logger) {}

func (m *cgroupManager) instanceDirs() []string { return nil }

func (c *workerCgroup) setLimits(functions.Limits) error { return nil }
