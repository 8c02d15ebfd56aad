package outbound

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// MaxPatterns bounds the patterns of one grant list.
const MaxPatterns = 64

// Pattern is one destination in an allow or deny list: a host name
// ("api.lan"), a host name suffix ("*.lan": any name ending in ".lan"), an
// IP address ("192.168.1.20") or a CIDR block ("192.168.1.0/24"), each
// with an optional port ("192.168.1.20:8123", "[fd00::1]:80", "*.lan:443").
// Without a port it matches every port.
type Pattern struct {
	host   string       // a lower-case name, or "" for ip/prefix patterns
	suffix bool         // host is a suffix: "*.lan" stores ".lan"
	prefix netip.Prefix // an IP (a /32 or /128) or a CIDR block
	port   int          // 0: any
	text   string
}

// String returns the pattern as it was written (normalised).
func (p Pattern) String() string { return p.text }

// ParsePattern parses one pattern; the error says what is wrong with it.
func ParsePattern(s string) (Pattern, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	p := Pattern{text: in}
	if in == "" {
		return p, fmt.Errorf("empty destination")
	}
	if strings.Contains(in, "://") {
		return p, fmt.Errorf("%q is a URL: give a host, host:port, CIDR or *.suffix", s)
	}
	host := in
	if strings.HasPrefix(in, "[") || (strings.Count(in, ":") == 1 && !strings.Contains(in, "/")) {
		h, port, err := net.SplitHostPort(in)
		if err != nil {
			return p, fmt.Errorf("%q: %w", s, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return p, fmt.Errorf("%q: port %q is not 1 to 65535", s, port)
		}
		host, p.port = h, n
	}
	if pf, err := netip.ParsePrefix(host); err == nil {
		p.prefix = pf.Masked()
		return p, nil
	} else if strings.Contains(host, "/") {
		return p, fmt.Errorf("%q: %w", s, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap().WithZone("")
		p.prefix = netip.PrefixFrom(ip, ip.BitLen())
		return p, nil
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		p.suffix, host = true, "."+rest
		if !validName(rest) {
			return p, fmt.Errorf("%q: %q is not a host name", s, rest)
		}
	} else if !validName(host) {
		return p, fmt.Errorf("%q is not a host, host:port, CIDR or *.suffix", s)
	}
	p.host = strings.TrimSuffix(host, ".")
	return p, nil
}

// ParsePatterns parses a list; entries may themselves be comma-separated
// ("a.lan,10.0.0.0/8"). Empty entries are skipped.
func ParsePatterns(list []string) ([]Pattern, error) {
	var out []Pattern
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			p, err := ParsePattern(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	if len(out) > MaxPatterns {
		return nil, fmt.Errorf("%d destinations is over the limit of %d", len(out), MaxPatterns)
	}
	return out, nil
}

// validName accepts DNS names: dot-separated labels of letters, digits,
// '-' and '_', 1 to 63 bytes each, 253 at most in all.
func validName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// matches reports whether a connection to ip:port, made for the URL host
// name host (lower-case; the IP itself for an IP literal), is covered.
func (p Pattern) matches(host string, ip netip.Addr, port int) bool {
	if p.port != 0 && p.port != port {
		return false
	}
	switch {
	case p.prefix.IsValid():
		return p.prefix.Contains(ip)
	case p.suffix:
		return strings.HasSuffix(host, p.host)
	}
	return host == p.host
}

func matchAny(ps []Pattern, host string, ip netip.Addr, port int) (Pattern, bool) {
	for _, p := range ps {
		if p.matches(host, ip, port) {
			return p, true
		}
	}
	return Pattern{}, false
}
