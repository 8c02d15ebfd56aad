package cli

import (
	"fmt"
	"net/netip"
	"strings"
)

// defaultTrustedProxies is serve's --trusted-proxies default: loopback,
// where Caddy runs in the packaged install.
const defaultTrustedProxies = "127.0.0.0/8,::1/128"

// parseTrustedProxies parses a comma list of CIDR prefixes or addresses;
// "" and "none" trust no proxy (an empty, non-nil list).
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	if strings.TrimSpace(s) == "none" {
		return out, nil
	}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not an address or CIDR prefix (like 10.0.0.0/8 or 192.168.1.2)", p)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pf, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is not an address or CIDR prefix (like 10.0.0.0/8 or 192.168.1.2)", p)
		}
		out = append(out, pf.Masked())
	}
	return out, nil
}
