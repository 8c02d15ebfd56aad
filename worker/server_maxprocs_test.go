package worker

import (
	"runtime"
	"testing"
)

func TestServer_LoadSetsTheFunctionsGOMAXPROCS(t *testing.T) {
	old := runtime.GOMAXPROCS(1) // as a spare worker starts
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	spec := defaultSpec(`function handle(req) return "ok" end`)
	spec.MaxProcs = 3
	newTestServer(t, spec)
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("GOMAXPROCS after load %d, want 3", got)
	}
}

func TestServer_LoadWithoutMaxProcsKeepsGOMAXPROCS(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	newTestServer(t, defaultSpec(`function handle(req) return "ok" end`))
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("GOMAXPROCS after load %d, want 2 (unchanged)", got)
	}
}
