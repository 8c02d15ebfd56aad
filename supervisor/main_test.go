package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"
)

// workerBin is the worker binary TestMain builds; workerBuildErr says why
// it could not.
var (
	workerBin      string
	workerBuildErr error
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		runChildSupervisor() // TestSupervisor_WorkersDieWithSupervisor
		return
	}
	dir, err := os.MkdirTemp("", "picloud-supervisor-test-")
	if err == nil {
		// Workers may run as another user (picloud-worker, where the
		// package is installed): they must reach the binary.
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "picloud-worker")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	build := exec.Command(goBin, "build", "-o", workerBin, "github.com/picloud/picloud/cmd/picloud-worker")
	if out, err := build.CombinedOutput(); err != nil {
		workerBuildErr = fmt.Errorf("build the worker: %w\n%s", err, out)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// requireWorker fails the test when the worker binary could not be built.
func requireWorker(t testing.TB) {
	t.Helper()
	if workerBuildErr != nil {
		t.Fatal(workerBuildErr)
	}
}

// testLogger logs to the test's output (warnings and up, or everything
// with PICLOUD_TEST_DEBUG set) until the test ends.
func testLogger(t testing.TB) hclog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	level := hclog.Warn
	switch os.Getenv("PICLOUD_TEST_DEBUG") {
	case "":
	case "trace":
		level = hclog.Trace
	default:
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: level, Output: w})
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(bytes.TrimSpace(p)), "\n"))
	}
	return len(p), nil
}
