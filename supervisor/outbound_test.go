//go:build linux

package supervisor

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/outbound"
)

// httpFn is a function that fetches url with http.request and answers
// "ok STATUS BODY" or "err MESSAGE".
func httpFn(name string, version int, url string, allowNet []string, timeout time.Duration) functions.Spec {
	lim := functions.DefaultLimits()
	lim.Timeout = timeout
	src := `
function handle(req)
  local ok, r = pcall(http.request, {url = "` + url + `", timeout = 60})
  if not ok then return "err " .. r end
  return "ok " .. r.status .. " " .. r.body
end`
	return functions.Spec{Name: name, Version: version, Source: src, Limits: lim, AllowNet: allowNet}
}

func TestSupervisor_OutboundHTTPUsesTheVersionsGrants(t *testing.T) {
	b := setup(t, nil)
	client, err := outbound.New(outbound.Config{})
	require.NoError(t, err)
	defer client.Close()
	b.host.HTTP = client.HTTPRequest
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "hello from the LAN")
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")

	out := mustInvoke(t, b.sup, httpFn("fetch", 1, srv.URL, nil, time.Minute), "")
	require.Equal(t, "err fetch.lua:3: http.request: 127.0.0.1 is a loopback address; allow it with --allow-net "+hostPort, out)
	require.Zero(t, hits.Load(), "the refused server was reached")

	out = mustInvoke(t, b.sup, httpFn("fetch", 2, srv.URL, []string{hostPort}, time.Minute), "")
	require.Equal(t, "ok 200 hello from the LAN", out)
	require.EqualValues(t, 1, hits.Load())
}

func TestSupervisor_OutboundHTTPEndsBeforeTheCallsDeadline(t *testing.T) {
	b := setup(t, nil)
	client, err := outbound.New(outbound.Config{})
	require.NoError(t, err)
	defer client.Close()
	b.host.HTTP = client.HTTPRequest
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	hostPort := strings.TrimPrefix(srv.URL, "http://")

	// The Lua code asks for 60s; the function's timeout is 1s: the
	// request ends within the call and its error reaches the Lua code.
	out := mustInvoke(t, b.sup, httpFn("slow", 1, srv.URL, []string{hostPort}, time.Second), "")
	prefix := "err slow.lua:3: http.request: GET " + srv.URL + ": timed out after "
	require.True(t, strings.HasPrefix(out, prefix), out)
	d, err := time.ParseDuration(strings.TrimPrefix(out, prefix))
	require.NoError(t, err)
	require.LessOrEqual(t, d, time.Second, "the request's timeout is bounded by the call's remaining time")
}
