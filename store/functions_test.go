package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

func deployParams(name, source string) store.DeployParams {
	return store.DeployParams{Name: name, Source: source, CreatedBy: "admin"}
}

func TestFunctions_CreateGetList(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)

	limits := functions.DefaultLimits()
	limits.MemoryBytes = 128 << 20
	limits.CPU = 0.25
	limits.Timeout = 1500 * time.Millisecond
	limits.MinWarm = 1
	p := deployParams("hello", "function handle() return 'hi' end")
	p.Limits = limits
	p.Private = true
	f, err := s.CreateFunction(ctx, p)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(p.Source))
	require.Equal(t, "hello", f.Name)
	require.True(t, f.Private)
	require.Equal(t, store.DefaultMaxAttempts, f.MaxAttempts)
	require.Equal(t, 1, f.CurrentVersion)
	require.Equal(t, 1, f.Current.Version)
	require.Equal(t, p.Source, f.Current.Source)
	require.Equal(t, hex.EncodeToString(sum[:]), f.Current.SHA256)
	require.Equal(t, limits, f.Current.Limits)
	require.Equal(t, "admin", f.Current.CreatedBy)
	require.False(t, f.CreatedAt.IsZero())

	got, err := s.GetFunction(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, f, got)
	sf := got.Spec()
	require.Equal(t, functions.Spec{Name: "hello", Version: 1, Source: p.Source, SHA256: f.Current.SHA256, Limits: limits}, sf)

	_, err = s.CreateFunction(ctx, deployParams("another", "x = 1"))
	require.NoError(t, err)
	list, err := s.ListFunctions(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "another", list[0].Name)
	require.Equal(t, "hello", list[1].Name)
	require.Empty(t, list[1].Current.Source, "list leaves sources out")
	require.Equal(t, limits, list[1].Current.Limits)

	_, err = s.GetFunction(ctx, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestFunctions_CreateTakenNameConflicts(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	_, err := s.CreateFunction(ctx, deployParams("hello", "a = 1"))
	require.NoError(t, err)
	_, err = s.CreateFunction(ctx, deployParams("hello", "a = 2"))
	require.ErrorIs(t, err, store.ErrConflict)
	f, err := s.GetFunction(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, "a = 1", f.Current.Source, "the failed create changed nothing")
}

func TestFunctions_ZeroLimitsMeanDefaultsAndSHAIsChecked(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	f, err := s.CreateFunction(ctx, deployParams("hello", "a = 1"))
	require.NoError(t, err)
	require.Equal(t, functions.DefaultLimits(), f.Current.Limits)

	p := deployParams("bad", "a = 1")
	p.SHA256 = "00"
	_, err = s.CreateFunction(ctx, p)
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestFunctions_DeployVersionAddsImmutableVersions(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)

	_, err := s.DeployVersion(ctx, deployParams("hello", "v = 1"))
	require.ErrorIs(t, err, store.ErrNotFound, "a new version of an unknown function")

	p := deployParams("hello", "v = 1")
	p.MaxAttempts = 3
	_, err = s.CreateFunction(ctx, p)
	require.NoError(t, err)
	p2 := deployParams("hello", "v = 2")
	p2.Private = true
	p2.CreatedBy = "ci"
	p2.Limits = functions.DefaultLimits()
	p2.Limits.Concurrency = 9
	f, err := s.DeployVersion(ctx, p2)
	require.NoError(t, err)
	require.Equal(t, 2, f.CurrentVersion)
	require.Equal(t, "v = 2", f.Current.Source)
	require.Equal(t, 9, f.Current.Limits.Concurrency)
	require.True(t, f.Private)
	require.Equal(t, 3, f.MaxAttempts, "0 keeps max attempts")

	f, created, err := s.Deploy(ctx, deployParams("hello", "v = 3"))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, 3, f.CurrentVersion)
	f, created, err = s.Deploy(ctx, deployParams("fresh", "v = 1"))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, 1, f.CurrentVersion)

	versions, err := s.ListVersions(ctx, "hello")
	require.NoError(t, err)
	require.Len(t, versions, 3)
	require.Equal(t, []int{3, 2, 1}, []int{versions[0].Version, versions[1].Version, versions[2].Version})
	require.Equal(t, "ci", versions[1].CreatedBy)
	require.Equal(t, 9, versions[1].Limits.Concurrency)
	require.Empty(t, versions[0].Source)

	v1, err := s.GetVersion(ctx, "hello", 1)
	require.NoError(t, err)
	require.Equal(t, "v = 1", v1.Source)
	_, err = s.GetVersion(ctx, "hello", 7)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ListVersions(ctx, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)

	// Versions cannot be changed, even by hand.
	_, err = s.Pool().Exec(ctx, `UPDATE function_versions SET source = 'evil' WHERE function = 'hello' AND version = 1`)
	require.ErrorContains(t, err, "immutable")
}

func TestFunctions_ConcurrentDeploysNumberVersionsInOrder(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	_, err := s.CreateFunction(ctx, deployParams("hello", "v = 0"))
	require.NoError(t, err)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.DeployVersion(ctx, deployParams("hello", fmt.Sprintf("v = %d", i+1)))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	versions, err := s.ListVersions(ctx, "hello")
	require.NoError(t, err)
	require.Len(t, versions, n+1)
	for i, v := range versions {
		require.Equal(t, n+1-i, v.Version)
	}
	f, err := s.GetFunction(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, n+1, f.CurrentVersion)
}

func TestFunctions_Rollback(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	_, err := s.Rollback(ctx, "hello", 0)
	require.ErrorIs(t, err, store.ErrNotFound, "unknown function")

	_, err = s.CreateFunction(ctx, deployParams("hello", "v = 1"))
	require.NoError(t, err)
	_, err = s.Rollback(ctx, "hello", 0)
	require.ErrorIs(t, err, store.ErrNotFound, "nothing before version 1")
	for _, src := range []string{"v = 2", "v = 3"} {
		_, err = s.DeployVersion(ctx, deployParams("hello", src))
		require.NoError(t, err)
	}

	f, err := s.Rollback(ctx, "hello", 0)
	require.NoError(t, err)
	require.Equal(t, 2, f.CurrentVersion, "default is the previous version")
	require.Equal(t, "v = 2", f.Current.Source)

	f, err = s.Rollback(ctx, "hello", 0)
	require.NoError(t, err)
	require.Equal(t, 1, f.CurrentVersion)

	f, err = s.Rollback(ctx, "hello", 3)
	require.NoError(t, err)
	require.Equal(t, 3, f.CurrentVersion, "an explicit version, even a newer one")
	require.Equal(t, "v = 3", f.Current.Source)

	_, err = s.Rollback(ctx, "hello", 4)
	require.ErrorIs(t, err, store.ErrNotFound)
	f, err = s.GetFunction(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, 3, f.CurrentVersion, "a failed rollback changes nothing")

	versions, err := s.ListVersions(ctx, "hello")
	require.NoError(t, err)
	require.Len(t, versions, 3, "rollback adds no version")

	f, err = s.DeployVersion(ctx, deployParams("hello", "v = 4"))
	require.NoError(t, err)
	require.Equal(t, 4, f.CurrentVersion)
}

func TestFunctions_DeleteRemovesVersionsAndData(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	require.ErrorIs(t, s.DeleteFunction(ctx, "hello"), store.ErrNotFound)

	_, err := s.CreateFunction(ctx, deployParams("hello", "v = 1"))
	require.NoError(t, err)
	_, err = s.DeployVersion(ctx, deployParams("hello", "v = 2"))
	require.NoError(t, err)
	h := s.Host()
	require.NoError(t, h.KVSet(ctx, "hello", "k", []byte(`1`), 0))
	require.NoError(t, h.KVSet(ctx, "other", "k", []byte(`2`), 0))

	require.NoError(t, s.DeleteFunction(ctx, "hello"))
	_, err = s.GetFunction(ctx, "hello")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.ListVersions(ctx, "hello")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, found, err := h.KVGet(ctx, "hello", "k")
	require.NoError(t, err)
	require.False(t, found, "the function's kv data goes with it")
	_, found, err = h.KVGet(ctx, "other", "k")
	require.NoError(t, err)
	require.True(t, found, "other namespaces stay")

	f, err := s.CreateFunction(ctx, deployParams("hello", "v = new"))
	require.NoError(t, err)
	require.Equal(t, 1, f.CurrentVersion, "a new function of the same name starts over")
}

func TestFunctions_SourceIsStoredByteExact(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	// Not UTF-8 (a lone 0xE1, every byte 0x80-0xFF) and a NUL: text could
	// hold neither.
	var high []byte
	for b := 0x80; b <= 0xFF; b++ {
		high = append(high, byte(b))
	}
	src := "s = \"\xe1\x00" + string(high) + "\"\nfunction handle(req) return #s end\n"
	f, err := s.CreateFunction(ctx, deployParams("bytes", src))
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(src))
	require.Equal(t, hex.EncodeToString(sum[:]), f.Current.SHA256)
	require.Equal(t, src, f.Current.Source)

	got, err := s.GetFunction(ctx, "bytes")
	require.NoError(t, err)
	require.Equal(t, src, got.Current.Source)
	v, err := s.GetVersion(ctx, "bytes", 1)
	require.NoError(t, err)
	require.Equal(t, src, v.Source)
}
