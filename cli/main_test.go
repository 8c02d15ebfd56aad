package cli

import (
	"fmt"
	"os"
	"testing"

	"github.com/picloud/picloud/internal/e2etest"
)

// testVersion is baked into the test binary, as the Makefile bakes VERSION.
const testVersion = "v0.0.0-e2e"

// binDir holds bin/picloud (and picloud-worker when the tree has it), built
// once by TestMain for the end-to-end tests. It is written only there.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(e2etest.Main(withBinaries{m}))
}

// withBinaries runs the tests with the binaries built into binDir, with
// the version set as `make build` sets it.
type withBinaries struct{ m *testing.M }

func (w withBinaries) Run() int {
	dir, err := os.MkdirTemp("", "picloud-cli-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create the binary directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Readable by the worker user the supervisor runs workers as
	// (picloud-worker, when the host has it): MkdirTemp makes 0700.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "open the binary directory:", err)
		return 1
	}
	if err := e2etest.Build(dir, "-ldflags", "-X github.com/picloud/picloud/cli.Version="+testVersion); err != nil {
		fmt.Fprintln(os.Stderr, "build the binaries:", err)
		return 1
	}
	binDir = dir
	return w.m.Run()
}
