//go:build linux

package supervisor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/outbound"
)

// BenchmarkOutbound compares, in one run, a Lua function calling http.get
// on a local server through the supervisor (worker → host call →
// outbound.Client → server) with a direct Go client calling the same
// server, and with the same function without the request:
//
//	go test -run '^$' -bench Outbound -benchtime 2s ./supervisor/
func BenchmarkOutbound(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "pong")
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	lim := functions.DefaultLimits()
	ctx := context.Background()

	run := func(b *testing.B, src string) {
		bd := setup(b, nil)
		client, err := outbound.New(outbound.Config{MaxRequests: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		bd.host.HTTP = client.HTTPRequest
		fn := functions.Spec{Name: "fetch", Version: 1, Source: src, Limits: lim, AllowNet: []string{hostPort}}
		if resp, err := bd.sup.Invoke(ctx, fn, benchReq); err != nil || string(resp.Body) != "pong" {
			b.Fatalf("warm-up: %v %v", resp, err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := bd.sup.Invoke(ctx, fn, benchReq); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	}
	b.Run("lua-http.get-through-supervisor", func(b *testing.B) {
		run(b, `function handle(req) return http.get("`+srv.URL+`/").body end`)
	})
	b.Run("lua-without-request", func(b *testing.B) {
		run(b, `function handle(req) return "pong" end`)
	})
	b.Run("go-client-direct", func(b *testing.B) {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		defer hc.CloseIdleConnections()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			resp, err := hc.Get(srv.URL + "/")
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "pong" {
				b.Fatalf("%q %v", body, err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
}
