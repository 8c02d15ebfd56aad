package api

import "testing"

func TestInvocationFeed_WakesTheTailsOfTheFunctionsWritten(t *testing.T) {
	f := NewInvocationFeed()
	a, stopA := f.subscribe("a")
	all, stopAll := f.subscribe("")
	woken := func(s *feedSub) bool {
		select {
		case <-s.wake:
			return true
		default:
			return false
		}
	}
	f.Notify("b\nc")
	if woken(a) || !woken(all) {
		t.Error("a write of b and c: want only the tail of every function woken")
	}
	f.Notify("b\na")
	if !woken(a) {
		t.Error("a write of a did not wake a's tail")
	}
	f.Notify("ab")
	if woken(a) {
		t.Error("a write of ab woke a's tail")
	}
	f.Notify("*")
	if !woken(a) {
		t.Error("a write of many functions (*) did not wake a's tail")
	}
	f.State(false)
	if woken(a) {
		t.Error("losing the connection woke a tail")
	}
	f.State(true)
	if !woken(a) || !woken(all) {
		t.Error("after a reconnection every tail must catch up")
	}
	stopA()
	stopAll()
	if n := f.Tails(); n != 0 {
		t.Errorf("%d tails after both ended", n)
	}
}
