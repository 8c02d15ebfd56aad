// Package worker is the subprocess side of PiCloud: it serves one function
// version to the supervisor over go-plugin (control) and a private unix
// socket (calls), running each call on a pooled, sandboxed gopher-lua
// state.
//
// The process is sandboxed (no_new_privs, Landlock, seccomp) on the first
// control call, after its listeners exist and before any Lua code runs.
// It reads only its handshake cookie (PICLOUD_WORKER_COOKIE) and TMPDIR
// (where its private directory is made); go-plugin's PLUGIN_* variables are
// ignored (the protocol version is fixed, the socket is a unix socket).
// It links package wire, not go-plugin: see wire.Serve.
package worker

import (
	"fmt"
	"os"

	"net"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/picloud/picloud/protocol/wire"
)

// Main runs the worker: the companion binary's main and `picloud worker`
// call it with the arguments after the command name. It returns the exit
// status. Started by hand (without the supervisor's handshake cookie) it
// says what it is and returns 2.
//
// With the argument "validate" (wire.ValidateArg) it compiles the source
// on its standard input instead, sandboxed and limited, and prints the
// result (see wire.ValidateResult).
func Main(args []string) int {
	validate := len(args) == 1 && args[0] == wire.ValidateArg
	if (len(args) > 0 && !validate) || os.Getenv(wire.MagicCookieKey) != wire.MagicCookieValue {
		fmt.Fprintln(os.Stderr, "picloud-worker: runs one PiCloud function for `picloud serve`, which starts it; it is not meant to be run by hand")
		return 2
	}
	// Before anything opens a descriptor: whatever is open above stderr
	// was inherited, and a function must not reach it.
	inherited := closeInheritedFDs()
	// Sockets and directories for the supervisor's group too (see NewServer).
	syscall.Umask(0o007)
	if validate {
		return validateMain(os.Stdin, os.Stdout, newJSONLogger(os.Stderr, "validator"), inherited)
	}
	logger := newJSONLogger(os.Stderr, "worker")
	// Like any go-plugin plugin, ignore the terminal's interrupt: the
	// supervisor decides when we stop.
	signal.Ignore(os.Interrupt)
	srv, err := NewServer(logger)
	if err != nil {
		logger.Error("start worker", "error", err)
		return 1
	}
	defer srv.Close()
	srv.inheritedFDs = inherited
	// The go-plugin socket lives in the same private directory, so the
	// sandbox needs no other path.
	ln, err := net.Listen("unix", filepath.Join(srv.Dir(), "plugin.sock"))
	if err != nil {
		logger.Error("listen for the supervisor", "error", err)
		return 1
	}
	// Both listeners exist: sandbox the process now, while the supervisor
	// reads the handshake and sets up its connection (Info and Load wait
	// for it; no Lua code runs before).
	go srv.applySandbox()
	if err := wire.Serve(srv, ln); err != nil {
		logger.Error("serve the supervisor", "error", err)
		return 1
	}
	return 0
}
