package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestInvokeTarget_GivesTheFunctionMethodPathAndQuery(t *testing.T) {
	for _, tc := range []struct {
		name, method, path       string
		wantMethod, wantPath, wq string
	}{
		{"defaults", "", "", http.MethodPost, "/", ""},
		{"method only", "delete", "", http.MethodDelete, "/", ""},
		{"path and query", "GET", "/orders?id=3&x=y", http.MethodGet, "/orders", "id=3&x=y"},
		{"query only", "GET", "/?id=7", http.MethodGet, "/", "id=7"},
		{"escaped path", "PUT", "/a%20b", http.MethodPut, "/a b", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/functions/f/invoke?method=x&path=y&async=1", nil)
			r2, path, err := invokeTarget(r, tc.method, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if r2.Method != tc.wantMethod || path != tc.wantPath || r2.URL.RawQuery != tc.wq {
				t.Fatalf("got %s %s ?%s, want %s %s ?%s", r2.Method, path, r2.URL.RawQuery, tc.wantMethod, tc.wantPath, tc.wq)
			}
			if r.Method != http.MethodPost || r.URL.Query().Get("async") != "1" {
				t.Fatal("the original request was changed")
			}
		})
	}
	for _, bad := range []struct{ method, path string }{{"BREW", ""}, {"", "orders"}, {"", "http://evil/x"}, {"", "//host/x"}} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/functions/f/invoke", nil)
		_, _, err := invokeTarget(r, bad.method, bad.path)
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
			t.Errorf("invokeTarget(%q, %q) = %v, want a 400", bad.method, bad.path, err)
		}
	}
}
