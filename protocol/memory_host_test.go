package protocol_test

import (
	"context"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
)

func TestMemoryHost_KVAndSecretsPerFunction(t *testing.T) {
	ctx := context.Background()
	h := protocol.NewMemoryHost()
	if err := h.KVSet(ctx, "f", "a", []byte(`"x"`), 0); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := h.KVGet(ctx, "g", "a"); found {
		t.Fatal("function g sees f's key")
	}
	if v, found, _ := h.KVGet(ctx, "f", "a"); !found || string(v) != `"x"` {
		t.Fatalf("get: %s %v", v, found)
	}
	if n, err := h.KVIncr(ctx, "f", "n", 5); err != nil || n != 5 {
		t.Fatalf("incr: %d %v", n, err)
	}
	if _, err := h.KVIncr(ctx, "f", "a", 1); err == nil {
		t.Fatal("incr of a string worked")
	}
	_ = h.KVSet(ctx, "f", "ab", []byte(`1`), time.Nanosecond)
	time.Sleep(time.Millisecond) // let the nanosecond TTL pass
	list, err := h.KVList(ctx, "f", "a", 10)
	if err != nil || len(list) != 1 || list[0].Key != "a" {
		t.Fatalf("list: %+v %v (expired key must be gone)", list, err)
	}
	_ = h.KVDelete(ctx, "f", "a")
	if _, found, _ := h.KVGet(ctx, "f", "a"); found {
		t.Fatal("deleted key found")
	}
	h.SetSecret("f", "s", "v")
	if v, found, _ := h.SecretGet(ctx, "f", "s"); !found || v != "v" {
		t.Fatalf("secret: %q %v", v, found)
	}
	if _, found, _ := h.SecretGet(ctx, "g", "s"); found {
		t.Fatal("function g sees f's secret")
	}
}
