package e2e

import (
	"net/http"
	"net/url"
	"sort"
	"testing"
)

// TestServe_FunctionListPages: /api/v1/functions answers in pages that,
// followed with ?after=, list every function once, in name order.
func TestServe_FunctionListPages(t *testing.T) {
	h := need(t)
	for _, n := range []string{"page-a", "page-b", "page-c"} {
		h.deploy(t, map[string]any{"name": n, "source": "function handle() return 'x' end"})
	}
	type list struct {
		Functions []struct{ Name string }
		Next      string
	}
	var all list
	h.do(t, req{Method: "GET", Path: "/api/v1/functions?limit=1000", Token: h.admin}).JSON(t, &all)
	var paged []string
	after := ""
	for i := 0; ; i++ {
		var l list
		r := h.do(t, req{Method: "GET", Path: "/api/v1/functions?limit=2&after=" + url.QueryEscape(after), Token: h.admin})
		if r.Status != http.StatusOK {
			t.Fatalf("page %d: %d %s", i, r.Status, r.Body)
		}
		r.JSON(t, &l)
		if len(l.Functions) > 2 {
			t.Fatalf("page %d has %d functions, limit 2", i, len(l.Functions))
		}
		for _, f := range l.Functions {
			paged = append(paged, f.Name)
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	if len(paged) != len(all.Functions) || len(paged) < 3 || !sort.StringsAreSorted(paged) {
		t.Fatalf("paged %v, whole list %+v", paged, all.Functions)
	}
	for i, f := range all.Functions {
		if paged[i] != f.Name {
			t.Fatalf("paged %v differs from %+v", paged, all.Functions)
		}
	}
	if r := h.do(t, req{Method: "GET", Path: "/api/v1/functions?limit=0", Token: h.admin}); r.Status != http.StatusBadRequest {
		t.Errorf("limit=0: %d %s", r.Status, r.Body)
	}
}
