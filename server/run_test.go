package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/store/storetest"
)

// running is a server.Run in process.
type running struct {
	base    string
	dataDir string
	admin   string
	cancel  context.CancelFunc
	done    chan error
	stopped chan struct{} // closed by the Setup hook's stop function
}

func start(t *testing.T) *running {
	t.Helper()
	dbURL := storetest.NewDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{base: "http://" + ln.Addr().String(), dataDir: filepath.Join(t.TempDir(), "data"), done: make(chan error, 1)}
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- Run(ctx, Config{
			Listener:    ln,
			DatabaseURL: dbURL,
			DataDir:     r.dataDir,
			Logger:      hclog.New(&hclog.LoggerOptions{Name: "test", Output: io.Discard}),
			OnReady:     func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("not ready within 2 minutes")
	}
	t.Cleanup(func() { r.stop(t) })
	b, err := os.ReadFile(filepath.Join(r.dataDir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	r.admin = strings.TrimSpace(string(b))
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Error("Run did not return within 2 minutes of cancellation")
	}
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRun_FirstStartWritesAdminTokenOnce(t *testing.T) {
	r := start(t)
	st, err := os.Stat(filepath.Join(r.dataDir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v", st.Mode().Perm())
	}
	if ds, _ := os.Stat(r.dataDir); ds.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v", ds.Mode().Perm())
	}
	if ks, err := os.Stat(filepath.Join(r.dataDir, SecretKeyFile)); err != nil || ks.Mode().Perm() != 0o600 {
		t.Errorf("secret.key: %v %v", ks, err)
	}
	if code, body := get(t, r.base+"/api/v1/tokens", r.admin); code != 200 || !strings.Contains(body, `"admin"`) {
		t.Fatalf("tokens: %d %s", code, body)
	}
	if code, _ := get(t, r.base+"/readyz", ""); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
}

func TestRun_FailsClearlyWithoutDatabaseURL(t *testing.T) {
	err := Run(context.Background(), Config{})
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("Run without a database URL: %v", err)
	}
}
