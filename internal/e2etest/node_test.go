package e2etest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picloud/picloud/internal/e2etest"
	"github.com/picloud/picloud/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(e2etest.Main(m)) }

// TestNode_RestartAfterKillKeepsDatabaseAndDataDir kills a node with -9,
// restarts it, and finds the same admin token and the function deployed
// before; a second node on the database with a data dir of its own has
// no admin token file but serves the same function.
func TestNode_RestartAfterKillKeepsDatabaseAndDataDir(t *testing.T) {
	dbURL := storetest.NewDB(t)
	a := e2etest.Start(t, e2etest.Config{DatabaseURL: dbURL, DataDir: filepath.Join(t.TempDir(), "a")})
	if !strings.HasPrefix(a.Admin, "pc_") {
		t.Fatalf("admin token %q", a.Admin)
	}
	a.Deploy(t, map[string]any{"name": "hi", "source": `function handle(req) return "hi " .. req.body end`})
	call := func(n *e2etest.Node) string {
		r := n.Do(t, e2etest.Request{Method: http.MethodPost, Path: "/fn/hi", Body: "there"})
		if r.Status != http.StatusOK {
			t.Fatalf("call on %s: %d %s", n.URL, r.Status, r.Body)
		}
		return string(r.Body)
	}
	if got := call(a); got != "hi there" {
		t.Fatalf("call: %q", got)
	}

	a.Kill()
	a2 := a.Restart(t)
	if a2.Admin != a.Admin {
		t.Errorf("admin token after the restart %q, want %q", a2.Admin, a.Admin)
	}
	if got := call(a2); got != "hi there" {
		t.Errorf("call after the restart: %q", got)
	}
	if !strings.Contains(a2.Logs(), "serving") {
		t.Errorf("log lacks the serving line:\n%s", a2.Logs())
	}

	cfg := a2.Config()
	cfg.DataDir = filepath.Join(t.TempDir(), "b")
	b := e2etest.Start(t, cfg)
	if b.Admin != "" {
		t.Errorf("second node's data dir has an admin token")
	}
	if got := call(b); got != "hi there" {
		t.Errorf("call on the second node: %q", got)
	}
	if err := b.Stop(); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
}
