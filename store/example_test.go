package store_test

import (
	"context"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

// How `picloud serve` wires the store: open, migrate, then the hot-path
// helpers, stopped in reverse order.
func Example() {
	ctx := context.Background()
	logger := hclog.New(&hclog.LoggerOptions{Name: "picloud"})
	key, err := store.LoadOrCreateSecretKey("/var/lib/picloud/secret.key")
	if err != nil {
		logger.Error("secret key", "error", err)
		return
	}
	st, err := store.Open(ctx, os.Getenv("DATABASE_URL"), logger, store.WithSecretKey(key))
	if err != nil {
		logger.Error("open store", "error", err)
		return
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		logger.Error("migrate", "error", err)
		return
	}

	cache := store.NewFunctionCache(st, store.FunctionCacheConfig{})
	if err := cache.Start(ctx); err != nil {
		logger.Error("function cache", "error", err)
		return
	}
	defer cache.Stop()
	tokens := store.NewTokenCache(st, store.TokenCacheConfig{})
	if err := tokens.Start(ctx); err != nil {
		logger.Error("token cache", "error", err)
		return
	}
	defer tokens.Stop()
	records := store.NewInvocationWriter(st, store.InvocationWriterConfig{})
	_ = records.Start(ctx)
	defer records.Stop() // writes what is buffered

	// Per request: no database round trip while warm.
	f, err := cache.Get(ctx, "hello")
	if err != nil {
		return
	}
	records.Add(functions.Invocation{ID: functions.NewInvocationID(), Function: f.Name, Version: f.CurrentVersion,
		Trigger: "http", Status: functions.StatusSucceeded, HTTPStatus: 200})

	// The worker's kv and secrets calls.
	var host = st.Host()
	_, _ = host.KVIncr(ctx, "hello", "hits", 1)
}
