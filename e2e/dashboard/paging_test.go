package dashboard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDashboard_ListsPageWithMore seeds one more than a page (100) of
// schedules, triggers, tokens and secrets, then checks each page shows the
// first 100 and a "More" button that loads the rest: every item once, and
// no button after the last page.
func TestDashboard_ListsPageWithMore(t *testing.T) {
	ctx := browser(t)
	const n = 101
	admin := bearer(srv.admin)
	mustCall := func(method, path string, body any) {
		t.Helper()
		if st, b := call(t, method, srv.api+path, admin, body); st/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, st, b)
		}
	}
	mustCall("POST", "/api/v1/functions", map[string]any{"name": "pager", "source": "function handle() return 'ok' end"})
	t.Cleanup(func() { call(t, "DELETE", srv.api+"/api/v1/functions/pager", admin, nil) })
	for i := range n {
		mustCall("POST", "/api/v1/schedules", map[string]any{"function": "pager", "expr": fmt.Sprintf("0 %d * * *", i%24), "enabled": false})
		mustCall("POST", "/api/v1/triggers", map[string]any{"function": "pager", "topic": fmt.Sprintf("pager.t%03d", i)})
		mustCall("POST", "/api/v1/tokens", map[string]any{"name": fmt.Sprintf("pager-tok-%03d", i), "scopes": []string{"read"}})
		mustCall("PUT", fmt.Sprintf("/api/v1/secrets/PAGER_%03d", i), map[string]any{"value": "v"})
	}
	t.Cleanup(func() {
		for i := range n {
			call(t, "DELETE", srv.api+fmt.Sprintf("/api/v1/tokens/pager-tok-%03d", i), admin, nil)
			call(t, "DELETE", srv.api+fmt.Sprintf("/api/v1/secrets/PAGER_%03d", i), admin, nil)
		}
	})
	signIn(t, ctx, srv.admin)

	for _, c := range []struct {
		hash, rows, key, more, seeded string
	}{
		{"/access", "#tokens tbody tr", ".name", "#tokens-more", "pager-tok-"},
		{"/access", "#secrets li", ".mono", "#secrets-more", "PAGER_"},
		{"/events", "#triggers li", ".mono", "#triggers-more", "pager.t"},
		{"/schedules", "#schedules tbody tr", ".name", "#schedules-more", "pager"},
	} {
		page(t, ctx, c.hash)
		waitFor(t, ctx, c.rows, fmt.Sprintf(`document.querySelectorAll(%s).length > 0`, js(c.rows)))
		if got := eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll(%s).length`, js(c.rows))); got != 100 {
			t.Errorf("%s: the first page shows %d rows, want 100", c.hash, got)
		}
		for pages := 1; present(t, ctx, c.more); pages++ {
			if pages > 10 {
				t.Fatalf("%s: More never ends", c.more)
			}
			before := eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll(%s).length`, js(c.rows)))
			do(t, ctx, "click "+c.more, chromedp.Click(c.more))
			waitFor(t, ctx, "the next page of "+c.rows, fmt.Sprintf(`document.querySelectorAll(%s).length > %d || !!document.querySelector('.error:not(:empty)')`, js(c.rows), before))
		}
		if e := text(t, ctx, ".error:not(:empty)"); e != "" {
			t.Fatalf("%s: %s", c.hash, e)
		}
		// Every seeded item once.
		counts := eval[map[string]int](t, ctx, fmt.Sprintf(`(() => { const m = {};
			for (const r of document.querySelectorAll(%s)) { const k = r.querySelector(%s).textContent.trim(); m[k] = (m[k] || 0) + 1; }
			return m })()`, js(c.rows), js(c.key)))
		seen := 0
		for k, v := range counts {
			if strings.HasPrefix(k, c.seeded) {
				seen += v
				if v != 1 && c.seeded != "pager" {
					t.Errorf("%s: %q shown %d times", c.hash, k, v)
				}
			}
		}
		if seen != n {
			t.Errorf("%s: %d seeded items shown, want %d (%v)", c.hash, seen, n, counts)
		}
	}
	// The schedules page read each page's runs: the seeded function's cell is there.
	if got := text(t, ctx, fmt.Sprintf(`#schedules td.sc-runs[data-function=%s]`, js("pager"))); got == "" {
		t.Error("the schedules of the second page show no runs cell")
	}
}
