package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

func TestHost_KVSetGetDelete(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	h := stNew(t).Host()

	_, found, err := h.KVGet(ctx, "fn", "k")
	require.NoError(t, err)
	require.False(t, found)

	require.NoError(t, h.KVSet(ctx, "fn", "k", []byte(`{"a": [1, 2, "x"]}`), 0))
	v, found, err := h.KVGet(ctx, "fn", "k")
	require.NoError(t, err)
	require.True(t, found)
	require.JSONEq(t, `{"a":[1,2,"x"]}`, string(v))

	require.NoError(t, h.KVSet(ctx, "fn", "k", []byte(`"replaced"`), 0))
	v, _, err = h.KVGet(ctx, "fn", "k")
	require.NoError(t, err)
	require.Equal(t, `"replaced"`, string(v))

	_, found, err = h.KVGet(ctx, "other", "k")
	require.NoError(t, err)
	require.False(t, found, "each function has its own namespace")

	require.NoError(t, h.KVDelete(ctx, "fn", "k"))
	require.NoError(t, h.KVDelete(ctx, "fn", "k"), "deleting a missing key is fine")
	_, found, err = h.KVGet(ctx, "fn", "k")
	require.NoError(t, err)
	require.False(t, found)
}

func TestHost_KVRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	h := stNew(t).Host()
	for name, tc := range map[string]struct {
		key   string
		value string
	}{
		"not json":      {"k", `{nope`},
		"empty key":     {"", `1`},
		"long key":      {strings.Repeat("k", store.MaxKVKeyBytes+1), `1`},
		"nul in key":    {"a\x00b", `1`},
		"invalid utf-8": {"a\xffb", `1`},
		"huge value":    {"k", `"` + strings.Repeat("v", store.MaxKVValueBytes) + `"`},
		"nul in json":   {"k", `"a\u0000b"`},
	} {
		err := h.KVSet(ctx, "fn", tc.key, []byte(tc.value), 0)
		require.ErrorIs(t, err, store.ErrInvalid, name)
	}
	require.ErrorIs(t, h.KVSet(ctx, "fn", "k", []byte(`1`), -time.Second), store.ErrInvalid)
}

func TestHost_KVTTL(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	h := s.Host()

	require.NoError(t, h.KVSet(ctx, "fn", "session", []byte(`"abc"`), time.Hour))
	_, found, err := h.KVGet(ctx, "fn", "session")
	require.NoError(t, err)
	require.True(t, found, "not expired yet")
	var secs float64
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT extract(epoch FROM expires_at - now()) FROM kv WHERE key = 'session'`).Scan(&secs))
	require.InDelta(t, 3600, secs, 120)

	// Age the row past its expiry.
	_, err = s.Pool().Exec(ctx, `UPDATE kv SET expires_at = now() - interval '1 second' WHERE key = 'session'`)
	require.NoError(t, err)
	_, found, err = h.KVGet(ctx, "fn", "session")
	require.NoError(t, err)
	require.False(t, found, "expired keys are invisible")
	list, err := h.KVList(ctx, "fn", "", 0)
	require.NoError(t, err)
	require.Empty(t, list)

	// Setting without a TTL clears the expiry.
	require.NoError(t, h.KVSet(ctx, "fn", "session", []byte(`"def"`), time.Hour))
	require.NoError(t, h.KVSet(ctx, "fn", "session", []byte(`"ghi"`), 0))
	var hasExpiry bool
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT expires_at IS NOT NULL FROM kv WHERE key = 'session'`).Scan(&hasExpiry))
	require.False(t, hasExpiry)

	require.NoError(t, h.KVSet(ctx, "fn", "old", []byte(`1`), time.Hour))
	_, err = s.Pool().Exec(ctx, `UPDATE kv SET expires_at = now() - interval '1 second' WHERE key = 'old'`)
	require.NoError(t, err)
	n, err := s.PruneExpiredKV(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

func TestHost_KVIncr(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)
	h := s.Host()

	n, err := h.KVIncr(ctx, "fn", "hits", 1)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "a missing key counts as 0")
	n, err = h.KVIncr(ctx, "fn", "hits", 41)
	require.NoError(t, err)
	require.EqualValues(t, 42, n)
	n, err = h.KVIncr(ctx, "fn", "hits", -50)
	require.NoError(t, err)
	require.EqualValues(t, -8, n)
	v, _, err := h.KVGet(ctx, "fn", "hits")
	require.NoError(t, err)
	require.Equal(t, "-8", string(v), "stored as a JSON number")

	require.NoError(t, h.KVSet(ctx, "fn", "float-int", []byte(`7.0`), 0))
	n, err = h.KVIncr(ctx, "fn", "float-int", 1)
	require.NoError(t, err)
	require.EqualValues(t, 8, n, "an integral number is an integer")

	for _, bad := range []string{`"12"`, `1.5`, `{"a":1}`, `[1]`, `null`, `true`} {
		key := "bad" + bad
		require.NoError(t, h.KVSet(ctx, "fn", key, []byte(bad), 0))
		_, err := h.KVIncr(ctx, "fn", key, 1)
		require.ErrorIs(t, err, store.ErrInvalid, "incr on %s", bad)
		require.ErrorContains(t, err, "not an integer")
		v, _, err := h.KVGet(ctx, "fn", key)
		require.NoError(t, err)
		require.JSONEq(t, bad, string(v), "a failed incr leaves the value")
	}

	require.NoError(t, h.KVSet(ctx, "fn", "big", []byte(`9223372036854775807`), 0))
	_, err = h.KVIncr(ctx, "fn", "big", 1)
	require.ErrorIs(t, err, store.ErrInvalid, "overflow")

	// An expired counter starts over, without expiry.
	require.NoError(t, h.KVSet(ctx, "fn", "window", []byte(`100`), time.Hour))
	n, err = h.KVIncr(ctx, "fn", "window", 1)
	require.NoError(t, err)
	require.EqualValues(t, 101, n, "a live counter keeps counting")
	_, err = s.Pool().Exec(ctx, `UPDATE kv SET expires_at = now() - interval '1 second' WHERE key = 'window'`)
	require.NoError(t, err)
	n, err = h.KVIncr(ctx, "fn", "window", 1)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

func TestHost_KVIncrIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	h := stNew(t).Host()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := h.KVIncr(ctx, "fn", "n", 1); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	v, _, err := h.KVGet(ctx, "fn", "n")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(workers*each), string(v))
}

func TestHost_KVListByPrefix(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	h := stNew(t).Host()
	keys := []string{"user:2", "user:10", "user:1", "users", "user;", "user", "zebra", "user:\U0010FFFF", "usé", "us%", "us_x"}
	for i, k := range keys {
		require.NoError(t, h.KVSet(ctx, "fn", k, []byte(fmt.Sprint(i)), 0))
	}
	require.NoError(t, h.KVSet(ctx, "other", "user:9", []byte(`0`), 0))

	list, err := h.KVList(ctx, "fn", "user:", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"user:1", "user:10", "user:2", "user:\U0010FFFF"}, entryKeys(list))
	require.Equal(t, "2", string(list[0].Value))

	list, err = h.KVList(ctx, "fn", "user:", 2)
	require.NoError(t, err)
	require.Equal(t, []string{"user:1", "user:10"}, entryKeys(list))

	list, err = h.KVList(ctx, "fn", "us%", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"us%"}, entryKeys(list), "prefixes are literal")

	list, err = h.KVList(ctx, "fn", "us", 0)
	require.NoError(t, err)
	require.Len(t, list, 10)

	list, err = h.KVList(ctx, "fn", "user:\U0010FFFF", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"user:\U0010FFFF"}, entryKeys(list))

	list, err = h.KVList(ctx, "fn", "", 0)
	require.NoError(t, err)
	require.Len(t, list, len(keys))
	require.Equal(t, "zebra", list[len(list)-1].Key)
}

func entryKeys(list []protocol.KVEntry) []string {
	out := []string{}
	for _, e := range list {
		out = append(out, e.Key)
	}
	return out
}
