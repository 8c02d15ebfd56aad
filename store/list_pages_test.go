package store_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
)

// walkPages calls page with each cursor until a page comes back short,
// checking that every page costs one query, and returns the pages' keys in
// the order they came.
func walkPages(t *testing.T, counter *queryCounter, what string, limit int, page func(after string) (keys []string, last string)) []string {
	t.Helper()
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100, "%s: the pages never end", what)
		before := counter.n.Load()
		keys, last := page(after)
		require.Equal(t, int64(1), counter.n.Load()-before, "%s page after %q: one query", what, after)
		all = append(all, keys...)
		if len(keys) < limit {
			return all
		}
		after = last
	}
}

func TestListPages_WalkEveryItemOnceInOrderWithOneQueryPerPage(t *testing.T) {
	t.Parallel()
	var counter queryCounter
	s := stNew(t, store.WithTracer(&counter))
	ctx := stCtx(t)
	ev := s.Events()
	_, err := s.CreateFunction(ctx, deployParams("hello", "v = 1"))
	require.NoError(t, err)
	const n, limit = 250, 100
	var wantSchedules, wantTriggers, wantTokens, wantSecrets []string
	for i := range n {
		sc, err := ev.AddSchedule(ctx, store.Schedule{Function: "hello", Expr: "@every 1h", TZ: "UTC", Enabled: i%2 == 0})
		require.NoError(t, err)
		wantSchedules = append(wantSchedules, fmt.Sprint(sc.ID))
		tr, err := ev.AddTrigger(ctx, "hello", store.TriggerKindTopic, fmt.Sprintf("topic-%03d", i))
		require.NoError(t, err)
		wantTriggers = append(wantTriggers, fmt.Sprint(tr.ID))
		name := fmt.Sprintf("tok-%03d", i)
		_, err = s.CreateToken(ctx, name, []string{"read"}, hashOf(name))
		require.NoError(t, err)
		wantTokens = append(wantTokens, name)
		// Created in reverse name order: the list is by name, not by age.
		sname := fmt.Sprintf("S_%03d", n-1-i)
		_, err = s.SetSecret(ctx, sname, "v")
		require.NoError(t, err)
		wantSecrets = append([]string{sname}, wantSecrets...)
	}
	require.NoError(t, s.RevokeToken(ctx, "tok-007"))
	wantTokens = append(wantTokens[:7], wantTokens[8:]...)

	id := func(after string) int64 {
		var v int64
		if after != "" {
			_, err := fmt.Sscan(after, &v)
			require.NoError(t, err)
		}
		return v
	}
	got := walkPages(t, &counter, "schedules", limit, func(after string) ([]string, string) {
		list, err := ev.ListSchedulesPage(ctx, "", false, id(after), limit)
		require.NoError(t, err)
		var keys []string
		for _, sc := range list {
			keys = append(keys, fmt.Sprint(sc.ID))
		}
		return keys, keys[len(keys)-1]
	})
	require.Equal(t, wantSchedules, got)
	got = walkPages(t, &counter, "enabled schedules of hello", limit, func(after string) ([]string, string) {
		list, err := ev.ListSchedulesPage(ctx, "hello", true, id(after), limit)
		require.NoError(t, err)
		var keys []string
		for _, sc := range list {
			require.True(t, sc.Enabled)
			keys = append(keys, fmt.Sprint(sc.ID))
		}
		return keys, keys[len(keys)-1]
	})
	require.Len(t, got, n/2)
	got = walkPages(t, &counter, "triggers", limit, func(after string) ([]string, string) {
		list, err := ev.ListTriggersPage(ctx, "", id(after), limit)
		require.NoError(t, err)
		var keys []string
		for _, tr := range list {
			keys = append(keys, fmt.Sprint(tr.ID))
		}
		return keys, keys[len(keys)-1]
	})
	require.Equal(t, wantTriggers, got)
	tokenIDs := map[string]int64{}
	got = walkPages(t, &counter, "tokens", limit, func(after string) ([]string, string) {
		list, err := s.ListTokensPage(ctx, false, id(after), limit)
		require.NoError(t, err)
		var keys []string
		for _, tk := range list {
			keys = append(keys, tk.Name)
			tokenIDs[tk.Name] = tk.ID
		}
		return keys, fmt.Sprint(tokenIDs[keys[len(keys)-1]])
	})
	require.Equal(t, wantTokens, got, "live tokens, by age, the revoked one left out")
	got = walkPages(t, &counter, "secrets", limit, func(after string) ([]string, string) {
		list, err := s.ListSecretsPage(ctx, after, limit)
		require.NoError(t, err)
		var keys []string
		for _, si := range list {
			keys = append(keys, si.Name)
		}
		return keys, keys[len(keys)-1]
	})
	require.Equal(t, wantSecrets, got)

	// The unpaged lists are still whole.
	all, err := s.ListSecrets(ctx)
	require.NoError(t, err)
	require.Len(t, all, n)
}
