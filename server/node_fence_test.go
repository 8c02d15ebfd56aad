package server

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/store"
)

// TestNodeAgent_LateHeartbeatFailsReadinessThenFencesUntilOneSucceeds: a
// node whose last heartbeat is older than 2½ intervals is not ready; past
// half its lease it is fenced (stops claiming work), and a successful
// heartbeat lifts both.
func TestNodeAgent_LateHeartbeatFailsReadinessThenFencesUntilOneSucceeds(t *testing.T) {
	a := newNodeAgent(nil, nil, store.Node{ID: "n1", Lease: 10 * time.Second}, 2*time.Second, hclog.NewNullLogger())
	var fences []bool
	a.fence = func(on bool) { fences = append(fences, on) }
	ago := func(d time.Duration) { a.lastOK.Store(time.Now().Add(-d).UnixNano()) }

	if err := a.ready(); err != nil {
		t.Fatalf("a fresh node is not ready: %v", err)
	}
	ago(4 * time.Second)
	a.checkFence()
	if err := a.ready(); err != nil || len(fences) != 0 {
		t.Fatalf("4s after a heartbeat (interval 2s): ready %v, fences %v; want ready, no fence", err, fences)
	}
	ago(5500 * time.Millisecond)
	if err := a.ready(); !errors.Is(err, errHeartbeatStale) {
		t.Fatalf("5.5s after a heartbeat: ready = %v, want errHeartbeatStale", err)
	}
	a.checkFence()
	if len(fences) != 1 || !fences[0] {
		t.Fatalf("past half the lease (5s): fences %v, want [true]", fences)
	}
	a.checkFence()
	if len(fences) != 1 {
		t.Fatalf("fenced twice: %v", fences)
	}
	ago(0)
	a.checkFence()
	if err := a.ready(); err != nil || len(fences) != 2 || fences[1] {
		t.Fatalf("after a heartbeat: ready %v, fences %v; want ready, [true false]", err, fences)
	}
}
