package functions

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The HTTP front of a function version and its config, chosen at deploy and
// kept with the version (a rollback restores them):
//   - CORS origins: PiCloud answers the preflight OPTIONS itself and adds
//     Access-Control-Allow-Origin to answers for an allowed Origin;
//   - a rate limit: calls over it get 429 before a worker is touched;
//   - Env: non-secret settings, env.KEY in Lua.

// AnyOrigin in CORSOrigins allows every origin.
const AnyOrigin = "*"

// Bounds of the front and config of one version.
const (
	MaxCORSOrigins  = 32
	maxOriginLen    = 256
	MaxRateCount    = 1_000_000
	MaxBurst        = 1_000_000
	MaxEnvVars      = 100
	MaxEnvBytes     = 16 << 10 // keys and values together
	maxEnvKeyLength = 64
)

// RateLimit is a token bucket: Count calls per Per, up to Burst at once.
// The zero value means no limit. PerIP gives each client address its own
// bucket instead of one for every caller.
type RateLimit struct {
	Count int
	Per   time.Duration // time.Second, time.Minute or time.Hour
	Burst int
	PerIP bool
}

// Enabled reports whether r limits anything.
func (r RateLimit) Enabled() bool { return r.Count > 0 && r.Per > 0 }

// PerSecond is the bucket's refill rate.
func (r RateLimit) PerSecond() float64 {
	if !r.Enabled() {
		return 0
	}
	return float64(r.Count) / r.Per.Seconds()
}

// String is the rate as deploy takes it: "20/s", "100/m", "" when off.
func (r RateLimit) String() string {
	if !r.Enabled() {
		return ""
	}
	unit := "s"
	switch r.Per {
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	}
	return strconv.Itoa(r.Count) + "/" + unit
}

// ParseRate parses "N/s", "N/m" or "N/h" (also /sec, /min, /hour); "",
// "0" and "off" are no limit (the zero RateLimit). Burst is left 0.
func ParseRate(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "0", "off", "none":
		return RateLimit{}, nil
	}
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return RateLimit{}, fmt.Errorf("rate %q has no unit: write it as N/s, N/m or N/h, like 20/s", s)
	}
	var per time.Duration
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		return RateLimit{}, fmt.Errorf("rate %q: unit %q is unknown: use /s, /m or /h", s, unit)
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count < 1 || count > MaxRateCount {
		return RateLimit{}, fmt.Errorf("rate %q: the count must be a whole number from 1 to %d", s, MaxRateCount)
	}
	return RateLimit{Count: count, Per: per}, nil
}

// Validate checks the burst against the rate.
func (r RateLimit) Validate() error {
	if !r.Enabled() {
		if r.Burst != 0 || r.PerIP {
			return fmt.Errorf("burst and per-IP limits need a rate: add --rate N/s")
		}
		return nil
	}
	if r.Burst < 1 || r.Burst > MaxBurst {
		return fmt.Errorf("burst %d is out of range: use 1 to %d", r.Burst, MaxBurst)
	}
	return nil
}

// originSchemeRE is a URL scheme (RFC 3986).
var originSchemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)

// NormalizeOrigin checks that s is an origin, scheme://host[:port] (or
// AnyOrigin), and returns it lowercased, as browsers send it in Origin.
func NormalizeOrigin(s string) (string, error) {
	if s == AnyOrigin {
		return s, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("origin %q is invalid: %s (write scheme://host[:port], like https://app.example.com, or * for any origin)", truncate(s, 80), why)
	}
	if len(s) > maxOriginLen {
		return "", bad(fmt.Sprintf("longer than %d bytes", maxOriginLen))
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", bad("not a URL")
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return "", bad("no scheme or host")
	case u.User != nil:
		return "", bad("an origin has no user name or password")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(s, "#"):
		return "", bad("an origin has no path, query or fragment, not even a trailing /")
	case !originSchemeRE.MatchString(strings.ToLower(u.Scheme)):
		return "", bad("the scheme is invalid")
	case strings.ContainsAny(u.Host, "*"):
		return "", bad("wildcards are not supported inside an origin: list each origin, or give * alone")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", bad("the port must be 1 to 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", bad("the port is empty")
	}
	if u.Hostname() == "" {
		return "", bad("the host is empty")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// NormalizeOrigins validates, lowercases, sorts and deduplicates origins.
// AnyOrigin must come alone.
func NormalizeOrigins(origins []string) ([]string, error) {
	if len(origins) > MaxCORSOrigins {
		return nil, fmt.Errorf("%d origins is over the limit of %d", len(origins), MaxCORSOrigins)
	}
	out := make([]string, 0, len(origins))
	for _, o := range origins {
		n, err := NormalizeOrigin(strings.TrimSpace(o))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 1 && slices.Contains(out, AnyOrigin) {
		return nil, fmt.Errorf("* allows every origin: give it alone, not with %d other origins", len(out)-1)
	}
	return out, nil
}

// envKeyRE is what an env key looks like: a Lua identifier.
var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateEnv checks the keys (identifiers of 1 to 64 characters), the
// number of variables and their total size.
func ValidateEnv(env map[string]string) error {
	if len(env) > MaxEnvVars {
		return fmt.Errorf("%d variables is over the limit of %d", len(env), MaxEnvVars)
	}
	size := 0
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if len(k) > maxEnvKeyLength || !envKeyRE.MatchString(k) {
			return fmt.Errorf("key %q is invalid: use 1 to %d letters, digits and '_', not starting with a digit (env.KEY in Lua)", truncate(k, 80), maxEnvKeyLength)
		}
		size += len(k) + len(env[k])
	}
	if size > MaxEnvBytes {
		return fmt.Errorf("%d bytes of keys and values is over the limit of %d: keep large settings in kv or a secret", size, MaxEnvBytes)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
