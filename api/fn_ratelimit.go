package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

// Rate limits of /fn/NAME (deploy --rate, --burst, --rate-per-ip): token
// buckets (golang.org/x/time/rate) held in this node's memory, so a limit
// is per node: behind N data nodes a function takes up to N times its rate.
// A call over the limit is answered 429 rate_limited with Retry-After
// before the call is built or a worker touched, and is not recorded.
//
// The buckets of a function are replaced when its current version changes
// (a deploy or a rollback), so a new limit applies at once. Per-IP buckets
// are bounded: at most MaxIPBuckets per function, the least recently used
// dropped first, so a flood of addresses cannot grow memory without bound
// (a dropped address starts again with a full bucket).

// MaxIPBuckets bounds the per-IP buckets kept per function on a node.
const MaxIPBuckets = 4096

// rateLimits are the buckets of every rate-limited function on this node.
type rateLimits struct {
	mu  sync.RWMutex
	fns map[string]*fnBuckets

	// refused counts the calls answered 429, originRefused the
	// preflights answered 403 (FrontRefused).
	refused, originRefused atomic.Uint64
}

// fnBuckets are the buckets of one function version.
type fnBuckets struct {
	version int
	limit   functions.RateLimit
	all     *rate.Limiter // one bucket for every caller, unless PerIP

	mu  sync.Mutex
	ips *simplelru.LRU[netip.Addr, *rate.Limiter]
}

func newRateLimits() *rateLimits {
	return &rateLimits{fns: map[string]*fnBuckets{}}
}

// buckets returns the buckets of f's current version, nil when it has no
// limit.
func (rl *rateLimits) buckets(f *store.Function) *fnBuckets {
	lim := f.Current.Front.Rate
	rl.mu.RLock()
	b := rl.fns[f.Name]
	rl.mu.RUnlock()
	current := b != nil && b.version == f.CurrentVersion && b.limit == lim
	switch {
	case !lim.Enabled() && b == nil:
		return nil // the common case: one read lock
	case !lim.Enabled():
		rl.forget(f.Name)
		return nil
	case current:
		return b
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if b = rl.fns[f.Name]; b != nil && b.version == f.CurrentVersion && b.limit == lim {
		return b // another call made them first
	}
	b = &fnBuckets{version: f.CurrentVersion, limit: lim}
	if lim.PerIP {
		b.ips, _ = simplelru.NewLRU[netip.Addr, *rate.Limiter](MaxIPBuckets, nil) // size > 0: no error
	} else {
		b.all = rate.NewLimiter(rate.Limit(lim.PerSecond()), lim.Burst)
	}
	rl.fns[f.Name] = b
	return b
}

// forget drops the buckets of function name (deleted, or no limit now).
func (rl *rateLimits) forget(name string) {
	rl.mu.Lock()
	delete(rl.fns, name)
	rl.mu.Unlock()
}

// limiter returns the bucket for a caller at ip.
func (b *fnBuckets) limiter(ip netip.Addr) *rate.Limiter {
	if b.all != nil {
		return b.all
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.ips.Get(ip)
	if !ok {
		l = rate.NewLimiter(rate.Limit(b.limit.PerSecond()), b.limit.Burst)
		b.ips.Add(ip, l)
	}
	return l
}

// ipBuckets is the number of per-IP buckets held (tests).
func (b *fnBuckets) ipBuckets() int {
	if b.ips == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ips.Len()
}

// take takes one token for a call at now, or says how long to wait for one.
func take(l *rate.Limiter, now time.Time) (wait time.Duration) {
	res := l.ReserveN(now, 1)
	if !res.OK() {
		return time.Hour // burst < 1: never (Validate forbids it)
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now) // the call is refused: give the token back
		return d
	}
	return 0
}

// fnRateLimited answers 429 and reports true when f's call r is over its
// rate limit on this node.
func (a *API) fnRateLimited(w http.ResponseWriter, r *http.Request, f *store.Function) bool {
	b := a.rates.buckets(f)
	if b == nil {
		return false
	}
	var ip netip.Addr
	if b.limit.PerIP {
		ip = clientIP(r, a.deps.TrustedProxies)
	}
	wait := take(b.limiter(ip), a.now())
	if wait <= 0 {
		return false
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	a.rates.refused.Add(1)
	who := ""
	if b.limit.PerIP {
		who = " for your address"
	}
	WriteError(w, &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: secs,
		Message: fmt.Sprintf("function %s is over its rate limit of %s (burst %d)%s on this node: retry in %ds",
			f.Name, b.limit, b.limit.Burst, who, secs)})
	return true
}

// FrontRefused returns the /fn calls this node refused before any worker
// ran: over a rate limit (429), and CORS preflights from an origin not
// allowed (403). For /metrics.
func (a *API) FrontRefused() (rateLimited, originRefused uint64) {
	return a.rates.refused.Load(), a.rates.originRefused.Load()
}

// defaultTrustedProxies are the proxies trusted when none are configured:
// loopback, where Caddy runs in the packaged install.
var defaultTrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// clientIP is the address of r's client: the connection's peer, or, when
// the peer is a trusted proxy, the rightmost X-Forwarded-For address that
// is not itself a trusted proxy (what the first proxy saw). Untrusted
// peers cannot choose their address with the header.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	if trusted == nil {
		trusted = defaultTrustedProxies
	}
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !inPrefixes(peer, trusted) {
		return peer
	}
	ip := peer
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return ip // garbage: keep the last address a trusted hop vouched for
			}
			ip = a.Unmap()
			if !inPrefixes(ip, trusted) {
				return ip
			}
		}
	}
	return ip
}

// parseAddr returns the IP of a host:port (or a bare IP), unmapped.
func parseAddr(hostport string) netip.Addr {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
