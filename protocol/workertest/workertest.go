// Package workertest builds the worker binary and starts real worker
// subprocesses, for tests and benchmarks of the worker, protocol and
// supervisor packages. It is test support, not used in production.
package workertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/picloud/picloud/protocol"
)

// Build compiles cmd/picloud-worker (as `make build` does, without cgo) into
// dir and returns the binary's path.
func Build(dir string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, "picloud-worker")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/picloud-worker")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build worker: %w\n%s", err, out)
	}
	return bin, nil
}

// Worker is a started worker subprocess.
type Worker struct {
	Plugin *plugin.Client
	Client *protocol.WorkerClient
}

// PID is the worker process's id.
func (w *Worker) PID() int { return w.Client.Info().PID }

// Stop closes the client and kills the process.
func (w *Worker) Stop() {
	w.Client.Close()
	w.Plugin.Kill()
}

// Start starts bin as a worker and loads spec into it.
func Start(ctx context.Context, bin string, spec protocol.FunctionSpec, logger hclog.Logger) (*Worker, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"TMPDIR=" + os.TempDir()}
	pc := plugin.NewClient(protocol.ClientConfig(cmd, logger))
	wc, err := protocol.Dispense(ctx, pc)
	if err != nil {
		pc.Kill()
		return nil, err
	}
	if err := wc.Load(ctx, spec); err != nil {
		wc.Close()
		pc.Kill()
		return nil, err
	}
	return &Worker{Plugin: pc, Client: wc}, nil
}

// StartT starts a worker for a test and stops it in t.Cleanup.
func StartT(t testing.TB, bin string, spec protocol.FunctionSpec) *Worker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := Start(ctx, bin, spec, nil)
	if err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}
