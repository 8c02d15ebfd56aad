package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
)

func TestHTTP_RequestReachesTheHostAndAnswersATable(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`
function handle(req)
  local r = http.request{method = "POST", url = "https://api.example.com/x", headers = {["X-A"] = "1", N = 2},
    body = "payload", timeout = 1.5}
  local g = http.get("https://api.example.com/g", {headers = {Accept = "text/plain"}})
  return r.status .. " " .. r.headers["content-type"] .. " " .. r.body .. " | " .. g.status .. " " .. g.body
end`))
	var seen []*protocol.HTTPRequest
	ts.host.HTTP = func(_ context.Context, function string, req *protocol.HTTPRequest) (*protocol.HTTPResponse, error) {
		if function != "t" {
			t.Errorf("function = %q", function)
		}
		seen = append(seen, req)
		return &protocol.HTTPResponse{Status: 201, Headers: map[string]string{"content-type": "text/plain"}, Body: []byte("made " + req.Method)}, nil
	}
	if got, want := ts.body(nil), "201 text/plain made POST | 201 made GET"; got != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
	if len(seen) != 2 {
		t.Fatalf("host saw %d requests", len(seen))
	}
	r := seen[0]
	if r.Method != "POST" || r.URL != "https://api.example.com/x" || string(r.Body) != "payload" ||
		r.Headers["X-A"] != "1" || r.Headers["N"] != "2" || r.Timeout != 1500*time.Millisecond {
		t.Fatalf("request = %+v", r)
	}
	if g := seen[1]; g.Method != "GET" || g.Headers["Accept"] != "text/plain" || g.Timeout != 0 {
		t.Fatalf("get = %+v", g)
	}
}

func TestHTTP_RefusalIsALuaErrorSayingWhy(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`
function handle(req)
  local ok, err = pcall(http.get, "http://10.0.0.1/")
  if ok then return "reached" end
  if req.path == "/raise" then http.get("http://10.0.0.1/") end
  return err
end`))
	ts.host.HTTP = func(context.Context, string, *protocol.HTTPRequest) (*protocol.HTTPResponse, error) {
		return nil, errors.New("10.0.0.1 is a private address; allow it with --allow-net 10.0.0.1:80")
	}
	if got := ts.body(nil); !strings.HasSuffix(got, "http.request: 10.0.0.1 is a private address; allow it with --allow-net 10.0.0.1:80") {
		t.Fatalf("body = %q", got)
	}
	_, ce := ts.call(path("/raise"))
	if ce == nil || ce.Kind != protocol.KindScript || !strings.Contains(ce.Message, "10.0.0.1 is a private address") {
		t.Fatalf("call error = %+v", ce)
	}
}

func TestHTTP_BadArgumentsAreLuaErrors(t *testing.T) {
	cases := []struct{ code, want string }{
		{`http.request{}`, "url is required"},
		{`http.request("x")`, "table expected"},
		{`http.request{url = "http://x/", headers = "a"}`, "headers must be a table"},
		{`http.request{url = "http://x/", headers = {a = {}}}`, `header "a" must be a string`},
		{`http.request{url = "http://x/", timeout = -1}`, "timeout must be a positive number"},
		{`http.request{url = "http://x/", timeout = "soon"}`, "timeout must be a number"},
		{`http.request{url = {}}`, "url must be a string"},
		{`http.get(("x"):rep(9000))`, "over the limit of 8192"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			ts := newTestServer(t, defaultSpec("function handle(req) "+c.code+" end"))
			ts.host.HTTP = func(context.Context, string, *protocol.HTTPRequest) (*protocol.HTTPResponse, error) {
				t.Error("the host was asked")
				return &protocol.HTTPResponse{}, nil
			}
			_, ce := ts.call(nil)
			if ce == nil || !strings.Contains(ce.Message, c.want) {
				t.Fatalf("got %+v, want an error with %q", ce, c.want)
			}
		})
	}
}
