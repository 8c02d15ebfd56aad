// Package e2etest runs the real PiCloud binaries for end-to-end tests:
// picloud and picloud-worker built once per test binary (or make's, from
// PICLOUD_BIN_DIR), and `picloud serve` nodes on 127.0.0.1, each with its
// own port and data directory, any number of them on one database.
//
// A package using it calls Main from its TestMain, which removes the
// binaries built for it and checks for leaked goroutines:
//
//	func TestMain(m *testing.M) { os.Exit(e2etest.Main(m)) }
//
// and a test starts a node on a database of its own:
//
//	n := e2etest.Start(t, e2etest.Config{DatabaseURL: storetest.NewDB(t), DataDir: t.TempDir()})
//	r := n.Do(t, e2etest.Request{Method: "GET", Path: "/api/v1/functions", Token: n.Admin})
package e2etest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// binDirEnv names the directory where `make build` put the binaries; `make
// test` sets it.
const binDirEnv = "PICLOUD_BIN_DIR"

// built is what BinDir built for this test binary, at most once.
var built struct {
	once sync.Once
	dir  string
	tmp  string // removed by Main
	err  error
}

// BinDir returns the directory holding picloud and picloud-worker:
// PICLOUD_BIN_DIR when it holds both, else a temporary directory where
// they are built once per test binary (Main removes it).
func BinDir() (string, error) {
	built.once.Do(func() {
		if dir := os.Getenv(binDirEnv); dir != "" && hasBinaries(dir) {
			built.dir = dir
			return
		}
		tmp, err := os.MkdirTemp("", "picloud-e2e-bin-")
		if err != nil {
			built.err = fmt.Errorf("create the binary directory: %w", err)
			return
		}
		built.tmp = tmp
		// Readable by the worker user the supervisor runs workers as
		// (picloud-worker, when the host has it): MkdirTemp makes 0700.
		if err := os.Chmod(tmp, 0o755); err != nil {
			built.err = fmt.Errorf("open the binary directory: %w", err)
			return
		}
		if err := Build(tmp); err != nil {
			built.err = err
			return
		}
		built.dir = tmp
	})
	return built.dir, built.err
}

// Bins is BinDir for a test: it fails the test when the build fails.
func Bins(t testing.TB) string {
	t.Helper()
	dir, err := BinDir()
	if err != nil {
		t.Fatalf("e2etest: %v", err)
	}
	return dir
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"picloud", "picloud-worker"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// Build compiles every command of cmd/ into dir as `make build` does
// (CGO_ENABLED=0, -trimpath), with goBuildArgs added to go build (say,
// -ldflags to set the version).
func Build(dir string, goBuildArgs ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	args := append([]string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}, goBuildArgs...)
	cmd := exec.Command(goBin, append(args, "./cmd/...")...)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/...: %w\n%s", err, b)
	}
	return nil
}

// Main runs the tests (m.Run, or a wrapper that sets up around it) and
// returns the exit code for os.Exit: it then removes the binaries BinDir
// built and, when the tests passed, fails the run on a goroutine left
// behind (goleak).
func Main(m interface{ Run() int }) int {
	code := m.Run()
	if built.tmp != "" {
		_ = os.RemoveAll(built.tmp)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			return 1
		}
	}
	return code
}

// Environ is the process environment without PiCloud's own variables
// (PICLOUD_*, DATABASE_URL, NOTIFY_SOCKET), so the developer's settings do
// not leak into a test, plus extra (KEY=VALUE).
func Environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PICLOUD_") || strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
