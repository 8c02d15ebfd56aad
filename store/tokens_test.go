package store_test

import (
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
)

func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func TestTokens_CreateFindRevoke(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)

	n, err := s.CountTokens(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	tok, err := s.CreateToken(ctx, "ci", []string{"deploy", "read"}, hashOf("s1"))
	require.NoError(t, err)
	require.Equal(t, "ci", tok.Name)
	require.Equal(t, []string{"deploy", "read"}, tok.Scopes)
	require.Nil(t, tok.LastUsedAt)
	require.Nil(t, tok.RevokedAt)

	_, err = s.CreateToken(ctx, "ci", []string{"read"}, hashOf("s2"))
	require.ErrorIs(t, err, store.ErrConflict, "name taken by a live token")

	got, err := s.TokenByHash(ctx, hashOf("s1"))
	require.NoError(t, err)
	require.Equal(t, tok.ID, got.ID)
	_, err = s.TokenByHash(ctx, hashOf("wrong"))
	require.ErrorIs(t, err, store.ErrNotFound)

	list, err := s.ListTokens(ctx, false)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NotNil(t, list[0].LastUsedAt, "use is recorded")

	require.NoError(t, s.RevokeToken(ctx, "ci"))
	require.ErrorIs(t, s.RevokeToken(ctx, "ci"), store.ErrNotFound, "already revoked")
	require.ErrorIs(t, s.RevokeToken(ctx, "nobody"), store.ErrNotFound)
	_, err = s.TokenByHash(ctx, hashOf("s1"))
	require.ErrorIs(t, err, store.ErrNotFound, "revoked tokens are invisible")

	// The name is free again.
	_, err = s.CreateToken(ctx, "ci", []string{"invoke"}, hashOf("s3"))
	require.NoError(t, err)
	live, err := s.ListTokens(ctx, false)
	require.NoError(t, err)
	require.Len(t, live, 1)
	require.Equal(t, []string{"invoke"}, live[0].Scopes)
	all, err := s.ListTokens(ctx, true)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.NotNil(t, all[0].RevokedAt)
	n, err = s.CountTokens(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	_, err = s.CreateToken(ctx, "dup-hash", nil, hashOf("s3"))
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = s.CreateToken(ctx, "short", nil, []byte("short"))
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestTokens_BootstrapCreatesOneTokenAcrossConcurrentStarts(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	const n = 6
	var wg sync.WaitGroup
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, created[i], errs[i] = s.BootstrapToken(ctx, "admin", []string{"admin"}, hashOf(string(rune('a'+i))))
		}()
	}
	wg.Wait()
	wins := 0
	for i := range n {
		require.NoError(t, errs[i])
		if created[i] {
			wins++
		}
	}
	require.Equal(t, 1, wins)
	c, err := s.CountTokens(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, c)
}
