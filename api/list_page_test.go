package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
)

// getPage GETs path with q and decodes the answer into out, or fails.
func getPage(t *testing.T, srv string, b *streamBundle, path string, q url.Values, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv+path+"?"+q.Encode(), nil)
	req.Header = bearerOf(b)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s?%s: %d", path, q.Encode(), resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// walkAPI follows a list's next from the first page to the last and returns
// every key in order, checking that no page holds more than limit items.
func walkAPI(t *testing.T, srv string, b *streamBundle, path string, limit int, page func(q url.Values) ([]string, string)) []string {
	t.Helper()
	var all []string
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("%s: the pages never end", path)
		}
		keys, next := page(q)
		if len(keys) > limit {
			t.Fatalf("%s: %d items on a page of %d", path, len(keys), limit)
		}
		all = append(all, keys...)
		if next == "" {
			return all
		}
		q.Set("after", next)
	}
}

func TestListPages_APIWalksEveryItemOnceInOrderAndRejectsBadParams(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, hclog.NewNullLogger(), store.WithSecretKey(make([]byte, store.SecretKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	secret, hash, err := NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.BootstrapToken(ctx, "admin", []string{ScopeAdmin}, hash[:]); err != nil {
		t.Fatal(err)
	}
	b := &streamBundle{st: st, token: secret}
	if _, err := st.CreateFunction(ctx, store.DeployParams{Name: "hello", Source: "v = 1", CreatedBy: "admin"}); err != nil {
		t.Fatal(err)
	}
	const n, limit = 250, 100
	wantSchedules, wantTriggers, wantTokens, wantSecrets := []string{}, []string{}, []string{"admin"}, []string{}
	for i := range n {
		sc, err := st.Events().AddSchedule(ctx, store.Schedule{Function: "hello", Expr: "@every 1h", TZ: "UTC"})
		if err != nil {
			t.Fatal(err)
		}
		wantSchedules = append(wantSchedules, fmt.Sprint(sc.ID))
		tr, err := st.Events().AddTrigger(ctx, "hello", store.TriggerKindTopic, fmt.Sprintf("t%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		wantTriggers = append(wantTriggers, fmt.Sprint(tr.ID))
		name := fmt.Sprintf("tok-%03d", i)
		h := sha256.Sum256([]byte(name))
		if _, err := st.CreateToken(ctx, name, []string{"read"}, h[:]); err != nil {
			t.Fatal(err)
		}
		wantTokens = append(wantTokens, name)
		sname := fmt.Sprintf("S_%03d", i)
		if _, err := st.SetSecret(ctx, sname, "v"); err != nil {
			t.Fatal(err)
		}
		wantSecrets = append(wantSecrets, sname)
	}
	srv := serveHTTP(t, b, startService(t, b, nil))

	check := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: walked %d items %v..., want %d", what, len(got), got[:min(len(got), 5)], len(want))
		}
	}
	check("schedules", walkAPI(t, srv.URL, b, "/api/v1/schedules", limit, func(q url.Values) ([]string, string) {
		var l ScheduleList
		getPage(t, srv.URL, b, "/api/v1/schedules", q, &l)
		var keys []string
		for _, sc := range l.Schedules {
			keys = append(keys, fmt.Sprint(sc.ID))
		}
		return keys, l.Next
	}), wantSchedules)
	check("triggers of hello", walkAPI(t, srv.URL, b, "/api/v1/triggers", limit, func(q url.Values) ([]string, string) {
		var l TriggerList
		q.Set("function", "hello")
		getPage(t, srv.URL, b, "/api/v1/triggers", q, &l)
		var keys []string
		for _, tr := range l.Triggers {
			keys = append(keys, fmt.Sprint(tr.ID))
		}
		return keys, l.Next
	}), wantTriggers)
	check("tokens", walkAPI(t, srv.URL, b, "/api/v1/tokens", limit, func(q url.Values) ([]string, string) {
		var l TokenList
		getPage(t, srv.URL, b, "/api/v1/tokens", q, &l)
		var keys []string
		for _, tk := range l.Tokens {
			keys = append(keys, tk.Name)
		}
		return keys, l.Next
	}), wantTokens)
	check("secrets", walkAPI(t, srv.URL, b, "/api/v1/secrets", limit, func(q url.Values) ([]string, string) {
		var l SecretList
		getPage(t, srv.URL, b, "/api/v1/secrets", q, &l)
		var keys []string
		for _, s := range l.Secrets {
			keys = append(keys, s.Name)
		}
		return keys, l.Next
	}), wantSecrets)

	// No limit: the first 100, and a next.
	var first ScheduleList
	getPage(t, srv.URL, b, "/api/v1/schedules", nil, &first)
	if len(first.Schedules) != defaultListPage || first.Next != wantSchedules[defaultListPage-1] {
		t.Errorf("default page: %d schedules, next %q", len(first.Schedules), first.Next)
	}

	for _, bad := range []struct{ path, query, field, says string }{
		{"/api/v1/schedules", "limit=0", "limit", "from 1 to 1000"},
		{"/api/v1/triggers", "limit=1001", "limit", "from 1 to 1000"},
		{"/api/v1/tokens", "limit=ten", "limit", "limit="},
		{"/api/v1/secrets", "limit=-1", "limit", "limit="},
		{"/api/v1/schedules", "after=abc", "after", "after="},
		{"/api/v1/triggers", "after=-5", "after", "after="},
		{"/api/v1/tokens", "after=1.5", "after", "after="},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+bad.path+"?"+bad.query, nil)
		req.Header = bearerOf(b)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Field != bad.field || !strings.Contains(e.Error, bad.says) {
			t.Errorf("GET %s?%s: %d %+v, want 400 on %s saying %q", bad.path, bad.query, resp.StatusCode, e, bad.field, bad.says)
		}
	}
}
