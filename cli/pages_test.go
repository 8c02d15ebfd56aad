package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picloud/picloud/api"
)

// pagingServer serves n schedules, triggers, tokens and secrets in pages of
// 7 whatever the limit asked (a server may answer fewer), keyed by their
// index, and records every query it was sent.
func pagingServer(t *testing.T, n int) (*httptest.Server, func() []string) {
	t.Helper()
	const pageSize = 7
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		if r.URL.Query().Get("limit") != "1000" {
			http.Error(w, `{"error":"want limit=1000"}`, http.StatusBadRequest)
			return
		}
		start := 0
		if a := r.URL.Query().Get("after"); a != "" {
			i, err := strconv.Atoi(strings.TrimPrefix(a, "S_"))
			if err != nil {
				http.Error(w, `{"error":"bad after"}`, http.StatusBadRequest)
				return
			}
			start = i + 1
		}
		end := min(start+pageSize, n)
		next := func(key func(i int) string) string {
			if end == n {
				return ""
			}
			return key(end - 1)
		}
		id := func(i int) string { return strconv.Itoa(i) }
		secret := func(i int) string { return fmt.Sprintf("S_%04d", i) }
		var body any
		switch r.URL.Path {
		case "/api/v1/schedules":
			l := api.ScheduleList{Schedules: []api.Schedule{}, Next: next(id)}
			for i := start; i < end; i++ {
				l.Schedules = append(l.Schedules, api.Schedule{ID: int64(i), Function: fmt.Sprintf("sc-fn-%04d", i), Expr: "@every 1h", TZ: "UTC"})
			}
			body = l
		case "/api/v1/triggers":
			l := api.TriggerList{Triggers: []api.Trigger{}, Next: next(id)}
			for i := start; i < end; i++ {
				l.Triggers = append(l.Triggers, api.Trigger{ID: int64(i), Function: fmt.Sprintf("tr-fn-%04d", i), Kind: "topic", Topic: "t", CreatedAt: time.Now()})
			}
			body = l
		case "/api/v1/tokens":
			l := api.TokenList{Tokens: []api.Token{}, Next: next(id)}
			for i := start; i < end; i++ {
				l.Tokens = append(l.Tokens, api.Token{Name: fmt.Sprintf("tok-%04d", i), Scopes: []string{"read"}, CreatedAt: time.Now()})
			}
			body = l
		case "/api/v1/secrets":
			l := api.SecretList{Secrets: []api.Secret{}, Next: next(secret)}
			for i := start; i < end; i++ {
				l.Secrets = append(l.Secrets, api.Secret{Name: secret(i), CreatedAt: time.Now(), UpdatedAt: time.Now()})
			}
			body = l
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), queries...)
	}
}

func TestListCommands_FollowEveryPageAndPrintAll(t *testing.T) {
	t.Parallel()
	const n = 25 // four pages of 7
	srv, queries := pagingServer(t, n)
	env := map[string]string{"PICLOUD_URL": srv.URL, "PICLOUD_TOKEN": "pc_x"}
	for _, c := range []struct {
		args []string
		item func(i int) string
	}{
		{[]string{"schedule", "ls"}, func(i int) string { return fmt.Sprintf("sc-fn-%04d", i) }},
		{[]string{"trigger", "ls", "--function", "x"}, func(i int) string { return fmt.Sprintf("tr-fn-%04d", i) }},
		{[]string{"token", "ls"}, func(i int) string { return fmt.Sprintf("tok-%04d", i) }},
		{[]string{"secrets", "ls"}, func(i int) string { return fmt.Sprintf("S_%04d", i) }},
	} {
		r := run(t, env, "", c.args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", c.args, r.code, r.stderr)
		}
		last := -1
		for i := range n {
			at := strings.Index(r.stdout, c.item(i))
			if at < 0 || at < last || strings.Count(r.stdout, c.item(i)) != 1 {
				t.Fatalf("%v: item %d missing, twice or out of order in:\n%s", c.args, i, r.stdout)
			}
			last = at
		}
		r = run(t, env, "", append(c.args, "--json")...)
		if r.code != 0 || strings.Count(r.stdout, `"`+c.item(0)[:4]) != n {
			t.Fatalf("%v --json: exit %d, %d items in %q", c.args, r.code, strings.Count(r.stdout, `"`+c.item(0)[:4]), r.stdout)
		}
	}
	var triggers []string
	for _, q := range queries() {
		if strings.HasPrefix(q, "/api/v1/triggers") {
			triggers = append(triggers, q)
		}
	}
	if len(triggers) != 8 || !strings.Contains(triggers[1], "function=x") || !strings.Contains(triggers[1], "after=6") {
		t.Fatalf("trigger queries (4 pages, twice): %v", triggers)
	}
}
