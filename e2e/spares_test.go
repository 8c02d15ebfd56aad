package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/picloud/picloud/internal/e2etest"
)

type sparesView struct {
	SpareWorkers int `json:"spare_workers"`
	Spares       []struct {
		PID int `json:"pid"`
	} `json:"spares"`
	Workers []struct {
		PID      int    `json:"pid"`
		Function string `json:"function"`
	} `json:"workers"`
}

func spareView(t *testing.T, n *e2etest.Node, token string) sparesView {
	t.Helper()
	var v sparesView
	n.Do(t, req{Method: "GET", Path: "/api/v1/workers", Token: token}).JSON(t, &v)
	return v
}

func sparePIDs(v sparesView) []int {
	var pids []int
	for _, s := range v.Spares {
		pids = append(pids, s.PID)
	}
	return pids
}

// TestServe_SpareWorkersServeColdCallsAndStopWithServe starts a node with
// --spare-workers 2: a cold call is answered by one of its spares (the
// worker's pid is a spare's), a new spare takes its place, and stopping
// the node leaves no spare behind. A node with --spare-workers 0 has none.
func TestServe_SpareWorkersServeColdCallsAndStopWithServe(t *testing.T) {
	hh := need(t)
	n := e2etest.Start(t, e2etest.Config{DatabaseURL: hh.dbURL, DataDir: filepath.Join(t.TempDir(), "node-spares"),
		Args: []string{"--log-level", "debug", "--spare-workers", "2"}})
	var before sparesView
	eventually(t, "two ready spares", func() bool {
		before = spareView(t, n, hh.Admin)
		return len(before.Spares) == 2
	})
	if before.SpareWorkers != 2 {
		t.Fatalf("spare_workers %d, want 2", before.SpareWorkers)
	}
	hh.Deploy(t, map[string]any{"name": "sparecold", "source": `function handle(req) return "from a spare" end`})
	eventually(t, "the node serves the function", func() bool {
		r := n.Do(t, req{Method: "GET", Path: "/fn/sparecold"})
		return r.Status == 200 && string(r.Body) == "from a spare"
	})
	after := spareView(t, n, hh.Admin)
	var workerPID int
	for _, w := range after.Workers {
		if w.Function == "sparecold" && slices.Contains(sparePIDs(before), w.PID) {
			workerPID = w.PID
		}
	}
	if !slices.Contains(sparePIDs(before), workerPID) {
		t.Fatalf("the worker that answered (pid %d) is not one of the spares %v: %+v", workerPID, sparePIDs(before), after)
	}
	eventually(t, "two ready spares again, without the taken one", func() bool {
		after = spareView(t, n, hh.Admin)
		return len(after.Spares) == 2 && !slices.Contains(sparePIDs(after), workerPID)
	})
	left := sparePIDs(after)
	if err := n.Stop(); err != nil {
		t.Fatalf("stop the node: %v", err)
	}
	for _, pid := range left {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("spare %d outlived serve", pid)
		}
	}

	off := e2etest.Start(t, e2etest.Config{DatabaseURL: hh.dbURL, DataDir: filepath.Join(t.TempDir(), "node-nospares"),
		Args: []string{"--spare-workers", "0"}})
	if v := spareView(t, off, hh.Admin); v.SpareWorkers != 0 || len(v.Spares) != 0 {
		t.Fatalf("--spare-workers 0: %+v", v)
	}
}
