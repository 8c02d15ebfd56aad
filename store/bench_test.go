package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
)

func benchStore(b *testing.B) *store.Store {
	b.Helper()
	s, err := store.Open(context.Background(), storetest.NewDB(b), hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

func BenchmarkFunctionCache_GetWarm(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	if _, err := s.CreateFunction(ctx, deployParams("hello", "v = 1")); err != nil {
		b.Fatal(err)
	}
	c := store.NewFunctionCache(s, store.FunctionCacheConfig{})
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, "hello"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkStore_GetFunctionUncached(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	if _, err := s.CreateFunction(ctx, deployParams("hello", "v = 1")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.GetFunction(ctx, "hello"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInvocationWriter_Add(b *testing.B) {
	s := benchStore(b)
	w := store.NewInvocationWriter(s, store.InvocationWriterConfig{})
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	inv := newInvocation("hello", functions.StatusSucceeded)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Add(inv) // the same id: the writer's batches deduplicate it
		}
	})
	b.StopTimer()
	w.Stop()
	b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
}

func BenchmarkStore_InsertInvocations500(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	batch := make([]functions.Invocation, 500)
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			batch[i] = newInvocation("hello", functions.StatusSucceeded)
		}
		if err := s.InsertInvocations(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkHost_KV(b *testing.B) {
	ctx := context.Background()
	h := benchStore(b).Host()
	if err := h.KVSet(ctx, "fn", "k", []byte(`{"a":1}`), 0); err != nil {
		b.Fatal(err)
	}
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := h.KVGet(ctx, "fn", "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("set", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if err := h.KVSet(ctx, "fn", fmt.Sprint("k", i%100), []byte(`{"a":1}`), 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("incr", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.KVIncr(ctx, "fn", "counter", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
