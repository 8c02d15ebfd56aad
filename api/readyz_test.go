package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/store"
)

// TestReadyz_FailsWhileDrainingAndWhenTheNodeIsNotReady: /readyz answers
// 200 on a reachable database, 503 with Deps.Ready's reason (a late
// heartbeat) and 503 "draining" once Stopping is closed, so a load
// balancer takes the node out before its listener closes.
func TestReadyz_FailsWhileDrainingAndWhenTheNodeIsNotReady(t *testing.T) {
	b := setupDB(t)
	cache := store.NewFunctionCache(b.st, store.FunctionCacheConfig{})
	iv, err := invoke.New(invoke.Config{Functions: cache, Runner: noFunctions{}})
	if err != nil {
		t.Fatal(err)
	}
	stopping := make(chan struct{})
	var mu sync.Mutex
	var notReady error
	setReady := func(err error) { mu.Lock(); notReady = err; mu.Unlock() }
	a, err := New(Deps{Store: b.st, Functions: cache, Invoker: iv, Supervisor: noFunctions{},
		Stopping: stopping, Ready: func() error { mu.Lock(); defer mu.Unlock(); return notReady }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	check := func(want int, wantErr string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h Health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want || h.Error != wantErr {
			t.Errorf("/readyz = %d %q, want %d %q", resp.StatusCode, h.Error, want, wantErr)
		}
	}
	check(http.StatusOK, "")
	setReady(errors.New("this node cannot reach the database (no heartbeat)"))
	check(http.StatusServiceUnavailable, "this node cannot reach the database (no heartbeat)")
	setReady(nil)
	check(http.StatusOK, "")
	close(stopping)
	check(http.StatusServiceUnavailable, "draining: this node is shutting down")
}
