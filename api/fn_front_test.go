package api

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

func TestClientIP_ForwardedForOnlyFromTrustedProxies(t *testing.T) {
	cases := []struct {
		name, remote, xff, want string
	}{
		{"direct", "203.0.113.7:5000", "", "203.0.113.7"},
		{"untrusted_peer_cannot_spoof", "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"loopback_proxy", "127.0.0.1:5000", "198.51.100.1", "198.51.100.1"},
		{"client_prepends_lies", "127.0.0.1:5000", "10.9.9.9, 198.51.100.1", "198.51.100.1"},
		{"chain_of_trusted", "127.0.0.1:5000", "198.51.100.1, 127.0.0.1", "198.51.100.1"},
		{"garbage_keeps_proxy", "127.0.0.1:5000", "not-an-ip", "127.0.0.1"},
		{"v6_mapped", "[::ffff:127.0.0.1]:5000", "2001:db8::1", "2001:db8::1"},
		{"proxy_without_header", "[::1]:5000", "", "::1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/fn/x", nil)
			r.RemoteAddr = c.remote
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if got := clientIP(r, nil); got.String() != c.want {
				t.Fatalf("clientIP = %s, want %s", got, c.want)
			}
		})
	}
}

func rateFn(version int, lim functions.RateLimit) *store.Function {
	f := &store.Function{Name: "f", CurrentVersion: version}
	f.Current.Front.Rate = lim
	return f
}

func TestRateLimits_PerIPBucketsAreBounded(t *testing.T) {
	rl := newRateLimits()
	b := rl.buckets(rateFn(1, functions.RateLimit{Count: 1, Per: time.Minute, Burst: 1, PerIP: true}))
	now := time.Now()
	for i := range MaxIPBuckets + 500 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if take(b.limiter(ip), now) != 0 {
			t.Fatalf("first call of %s refused", ip)
		}
	}
	if n := b.ipBuckets(); n != MaxIPBuckets {
		t.Fatalf("%d per-IP buckets held, want the bound %d", n, MaxIPBuckets)
	}
	n := MaxIPBuckets + 499
	last := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
	if take(b.limiter(last), now) == 0 {
		t.Fatal("second call of the same address within the minute was allowed")
	}
}

func TestRateLimits_NewVersionGetsNewBuckets(t *testing.T) {
	rl := newRateLimits()
	lim := functions.RateLimit{Count: 1, Per: time.Hour, Burst: 1}
	now := time.Now()
	b1 := rl.buckets(rateFn(1, lim))
	if take(b1.limiter(netip.Addr{}), now) != 0 || take(b1.limiter(netip.Addr{}), now) == 0 {
		t.Fatal("burst of 1 not enforced")
	}
	if rl.buckets(rateFn(1, lim)) != b1 {
		t.Fatal("same version got new buckets")
	}
	lim.Burst = 2
	b2 := rl.buckets(rateFn(2, lim))
	if b2 == b1 || take(b2.limiter(netip.Addr{}), now) != 0 {
		t.Fatal("a new version kept the old, empty bucket")
	}
	if rl.buckets(rateFn(3, functions.RateLimit{})) != nil || len(rl.fns) != 0 {
		t.Fatal("a version without a limit kept buckets")
	}
}

func TestCORSAllowOrigin(t *testing.T) {
	allowed := []string{"https://a.example", "https://b.example:8443"}
	for origin, want := range map[string]string{
		"https://a.example":      "https://a.example",
		"https://B.example:8443": "https://B.example:8443",
		"https://a.example:443":  "",
		"http://a.example":       "",
		"https://evil.a.example": "",
		"":                       "",
	} {
		if got := corsAllowOrigin(allowed, origin); got != want {
			t.Errorf("corsAllowOrigin(%q) = %q, want %q", origin, got, want)
		}
	}
	if got := corsAllowOrigin([]string{"*"}, "null"); got != "*" {
		t.Errorf("* config answered %q", got)
	}
}
