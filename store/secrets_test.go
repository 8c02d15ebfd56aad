package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
)

func TestSecrets_EncryptedAtRestAndRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	const plain = "sk_live_very-secret-value"

	created, err := s.SetSecret(ctx, "STRIPE_KEY", plain)
	require.NoError(t, err)
	require.True(t, created)
	got, err := s.GetSecret(ctx, "STRIPE_KEY")
	require.NoError(t, err)
	require.Equal(t, plain, got)

	var nonce, ciphertext []byte
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT nonce, ciphertext FROM secrets WHERE name = 'STRIPE_KEY'`).Scan(&nonce, &ciphertext))
	require.NotEmpty(t, nonce)
	require.False(t, bytes.Contains(ciphertext, []byte(plain)), "the ciphertext does not hold the plaintext")
	require.False(t, bytes.Contains(ciphertext, []byte("secret")))

	created, err = s.SetSecret(ctx, "STRIPE_KEY", "rotated")
	require.NoError(t, err)
	require.False(t, created)
	_, err = s.CreateFunction(ctx, store.DeployParams{Name: "reader", Source: "x", Secrets: []string{"MISSING", "STRIPE_KEY"}})
	require.NoError(t, err)
	val, found, err := s.Host().SecretGet(ctx, "reader", "STRIPE_KEY")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "rotated", val)
	_, found, err = s.Host().SecretGet(ctx, "reader", "MISSING")
	require.NoError(t, err)
	require.False(t, found)

	_, err = s.SetSecret(ctx, "B", "")
	require.NoError(t, err)
	empty, err := s.GetSecret(ctx, "B")
	require.NoError(t, err)
	require.Empty(t, empty)
	list, err := s.ListSecrets(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "B", list[0].Name)
	require.Equal(t, "STRIPE_KEY", list[1].Name)

	require.NoError(t, s.DeleteSecret(ctx, "B"))
	require.ErrorIs(t, s.DeleteSecret(ctx, "B"), store.ErrNotFound)
	_, err = s.GetSecret(ctx, "B")
	require.ErrorIs(t, err, store.ErrNotFound)

	// A ciphertext moved to another name does not decrypt.
	_, err = s.Pool().Exec(ctx, `INSERT INTO secrets (name, nonce, ciphertext)
		SELECT 'STOLEN', nonce, ciphertext FROM secrets WHERE name = 'STRIPE_KEY'`)
	require.NoError(t, err)
	_, err = s.GetSecret(ctx, "STOLEN")
	require.Error(t, err)
}

func TestSecrets_NeedTheRightKey(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "data", "secret.key")
	key, err := store.LoadOrCreateSecretKey(keyPath)
	require.NoError(t, err)
	require.Len(t, key, store.SecretKeySize)
	st, err := os.Stat(keyPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	again, err := store.LoadOrCreateSecretKey(keyPath)
	require.NoError(t, err)
	require.Equal(t, key, again, "the key is created once")

	s := stOpen(t, url, store.WithSecretKey(key))
	_, err = s.SetSecret(ctx, "A", "value")
	require.NoError(t, err)

	other, err := store.LoadOrCreateSecretKey(filepath.Join(dir, "other.key"))
	require.NoError(t, err)
	_, err = stOpen(t, url, store.WithSecretKey(other)).GetSecret(ctx, "A")
	require.Error(t, err, "another key cannot decrypt")

	noKey := stOpen(t, url)
	_, err = noKey.GetSecret(ctx, "A")
	require.ErrorIs(t, err, store.ErrNoSecretKey)
	_, err = noKey.SetSecret(ctx, "A", "x")
	require.ErrorIs(t, err, store.ErrNoSecretKey)

	_, err = store.Open(ctx, url, nil, store.WithSecretKey([]byte("short")))
	require.ErrorIs(t, err, store.ErrInvalid)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.key"), []byte("zz"), 0o600))
	_, err = store.LoadOrCreateSecretKey(filepath.Join(dir, "bad.key"))
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestAppSecret_GetOrCreateOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	url := storetest.NewDB(t)
	const n = 6
	var wg sync.WaitGroup
	vals := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		s := stOpen(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals[i], errs[i] = s.AppSecret(ctx, "sse_ticket_hmac", func() []byte { return []byte{byte(i), 1, 2, 3} })
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, vals[0], vals[i], "every node gets the same key")
	}
	s := stOpen(t, url)
	v, err := s.AppSecret(ctx, "sse_ticket_hmac", func() []byte { panic("must not generate again") })
	require.NoError(t, err)
	require.Equal(t, vals[0], v)
}

func TestHost_SecretGetNeedsTheCurrentVersionsGrant(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	h := s.Host()
	_, err := s.SetSecret(ctx, "A", "a-value")
	require.NoError(t, err)
	_, err = s.SetSecret(ctx, "B", "b-value")
	require.NoError(t, err)

	notGranted := func(fn, name string) {
		t.Helper()
		v, found, err := h.SecretGet(ctx, fn, name)
		var ng *store.SecretNotGrantedError
		require.ErrorAs(t, err, &ng, "%s reading %s", fn, name)
		require.Equal(t, name, ng.Secret)
		require.Contains(t, err.Error(), "--secrets "+name)
		require.False(t, found)
		require.Empty(t, v)
	}
	granted := func(fn, name, want string) {
		t.Helper()
		v, found, err := h.SecretGet(ctx, fn, name)
		require.NoError(t, err, "%s reading %s", fn, name)
		require.Equal(t, want != "", found)
		require.Equal(t, want, v)
	}

	_, err = s.CreateFunction(ctx, store.DeployParams{Name: "fn", Source: "v1", Secrets: []string{"A"}})
	require.NoError(t, err)
	granted("fn", "A", "a-value")
	notGranted("fn", "B")
	notGranted("fn", "NOPE") // the same answer for a secret that does not exist
	notGranted("no-such-function", "A")

	f, err := s.DeployVersion(ctx, store.DeployParams{Name: "fn", Source: "v2", Secrets: []string{"B", "C"}})
	require.NoError(t, err)
	require.Equal(t, []string{"B", "C"}, f.Current.Secrets)
	notGranted("fn", "A")
	granted("fn", "B", "b-value")
	granted("fn", "C", "") // granted, not set: nil, as before grants

	f, err = s.Rollback(ctx, "fn", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"A"}, f.Current.Secrets, "a rollback restores the version's grants")
	granted("fn", "A", "a-value")
	notGranted("fn", "B")

	f, err = s.DeployVersion(ctx, store.DeployParams{Name: "fn", Source: "v3", KeepSecrets: true})
	require.NoError(t, err)
	require.Equal(t, []string{"A"}, f.Current.Secrets, "KeepSecrets takes the current version's grants")
	_, err = s.DeployVersion(ctx, store.DeployParams{Name: "fn", Source: "v4"})
	require.NoError(t, err)
	notGranted("fn", "A") // a deploy without grants grants nothing

	// CheckSecrets sees the locked current version and the new grants,
	// and its error aborts the deploy.
	refused := errors.New("refused")
	_, err = s.DeployVersion(ctx, store.DeployParams{Name: "fn", Source: "v5", Secrets: []string{"B"},
		CheckSecrets: func(cur *store.Version, grants []string) error {
			require.Equal(t, 4, cur.Version)
			require.Equal(t, []string{"B"}, grants)
			return refused
		}})
	require.ErrorIs(t, err, refused)
	_, err = s.CreateFunction(ctx, store.DeployParams{Name: "fresh", Source: "v1", KeepSecrets: true,
		CheckSecrets: func(cur *store.Version, grants []string) error {
			require.Nil(t, cur)
			require.Empty(t, grants)
			return nil
		}})
	require.NoError(t, err)

	vs, err := s.ListVersions(ctx, "fn")
	require.NoError(t, err)
	require.Len(t, vs, 4, "the refused deploy added no version")
	require.Equal(t, []string{}, vs[0].Secrets)
	require.Equal(t, []string{"B", "C"}, vs[2].Secrets)
	require.False(t, vs[3].AllSecrets)

	// A version from before migration 012 (NULL) may read every secret.
	_, err = s.Pool().Exec(ctx, `ALTER TABLE function_versions DISABLE TRIGGER function_versions_immutable`)
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `UPDATE function_versions SET secrets = NULL WHERE function = 'fn' AND version = 1`)
	require.NoError(t, err)
	_, err = s.Rollback(ctx, "fn", 1)
	require.NoError(t, err)
	granted("fn", "A", "a-value")
	granted("fn", "B", "b-value")
	f, err = s.DeployVersion(ctx, store.DeployParams{Name: "fn", Source: "v5", KeepSecrets: true})
	require.NoError(t, err)
	require.Equal(t, []string{}, f.Current.Secrets, "every secret is never carried into a new version")
	require.False(t, f.Current.AllSecrets)
	v1, err := s.GetVersion(ctx, "fn", 1)
	require.NoError(t, err)
	require.True(t, v1.AllSecrets)
	require.True(t, v1.Grants("ANY"))
}
