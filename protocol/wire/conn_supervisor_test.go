package wire

import (
	"context"
	"net"
	"testing"
	"time"
)

// A caller that gives up just as the worker answers still gets the answer,
// and the connection goes back to the pool without the read deadline its
// cancellation set: the next call, for another caller, must not fail (it
// would be taken for a dead worker and the worker killed).
func TestClientConn_CancelAsAnswerArrivesLeavesConnUsable(t *testing.T) {
	sup, wrk := net.Pipe()
	defer sup.Close()
	defer wrk.Close()
	cc := newClientConn(sup)
	dc := NewDataConn(wrk)

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 2)
	go func() {
		for i := 0; i < 2; i++ {
			var req Request
			if _, err := dc.ReadCall(&req); err != nil {
				served <- err
				return
			}
			if i == 0 {
				cancel()                          // the caller gives up...
				time.Sleep(20 * time.Millisecond) // ...its hook sets the read deadline...
			}
			served <- dc.WriteResponse(&Response{Status: 200, Body: []byte("ok")}) // ...and the answer arrives in time
		}
	}()

	resp, err := cc.Call(ctx, &Request{Method: "GET"}, time.Now().Add(time.Second), nil, "f")
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if string(resp.Body) != "ok" {
		t.Fatalf("first call body %q", resp.Body)
	}
	if err := <-served; err != nil {
		t.Fatalf("worker side of the first call: %v", err)
	}

	time.Sleep(CancelGrace + 50*time.Millisecond) // past the first call's deadline
	resp, err = cc.Call(context.Background(), &Request{Method: "GET"}, time.Now().Add(time.Second), nil, "f")
	if err != nil {
		t.Fatalf("second call on the same connection: %v", err)
	}
	if string(resp.Body) != "ok" {
		t.Fatalf("second call body %q", resp.Body)
	}
	if err := <-served; err != nil {
		t.Fatalf("worker side of the second call: %v", err)
	}
}
