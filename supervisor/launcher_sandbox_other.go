//go:build !linux

package supervisor

import (
	"syscall"

	"github.com/picloud/picloud/protocol"
)

func resolveWorkerIdentity(string) (workerIdentity, error) {
	return workerIdentity{desc: "none: no uid switch on this OS"}, nil
}

func credentialAttr(*syscall.SysProcAttr, workerIdentity) {}

func shareRunDir(string, workerIdentity) error { return nil }

func shareSockDir(string, workerIdentity) error { return nil }

func readProcStatus(int, *protocol.SandboxReport) bool { return false }

func markInheritedCloexec() error { return nil }
