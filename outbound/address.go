package outbound

import "net/netip"

// Kind is what an IP address is, for the outbound policy: KindPublic is
// reachable by default, every other kind is refused unless granted.
type Kind string

// Kinds of address. Only KindPublic is reachable without a grant.
const (
	KindPublic      Kind = "public"
	KindLoopback    Kind = "loopback"
	KindPrivate     Kind = "private"
	KindLinkLocal   Kind = "link-local"
	KindMetadata    Kind = "metadata"
	KindCGNAT       Kind = "cgnat"
	KindMulticast   Kind = "multicast"
	KindUnspecified Kind = "unspecified"
	KindBroadcast   Kind = "broadcast"
	KindReserved    Kind = "reserved"
)

// describe words a kind for an error message: "a private address".
func (k Kind) describe() string {
	switch k {
	case KindLoopback:
		return "a loopback address"
	case KindPrivate:
		return "a private address"
	case KindLinkLocal:
		return "a link-local address"
	case KindMetadata:
		return "the cloud metadata address"
	case KindCGNAT:
		return "a shared (CGNAT) address"
	case KindMulticast:
		return "a multicast address"
	case KindUnspecified:
		return "an unspecified address"
	case KindBroadcast:
		return "the broadcast address"
	case KindReserved:
		return "a reserved or special-purpose address"
	}
	return "a public address"
}

type specialRange struct {
	prefix netip.Prefix
	kind   Kind
}

// specialRanges are the IANA IPv4 and IPv6 special-purpose registries
// (RFC 6890 and its updates) with the metadata addresses of cloud hosts,
// most specific first: the first match wins. Everything else is public.
var specialRanges = func() []specialRange {
	table := []struct {
		cidr string
		kind Kind
	}{
		// IPv4
		{"169.254.169.254/32", KindMetadata}, // AWS, GCP, Azure, OpenStack, ...
		{"255.255.255.255/32", KindBroadcast},
		{"0.0.0.0/8", KindUnspecified}, // "this network"
		{"10.0.0.0/8", KindPrivate},
		{"100.64.0.0/10", KindCGNAT},
		{"127.0.0.0/8", KindLoopback},
		{"169.254.0.0/16", KindLinkLocal},
		{"172.16.0.0/12", KindPrivate},
		{"192.0.0.0/24", KindReserved},    // IETF protocol assignments
		{"192.0.2.0/24", KindReserved},    // TEST-NET-1
		{"192.31.196.0/24", KindReserved}, // AS112
		{"192.52.193.0/24", KindReserved}, // AMT
		{"192.88.99.0/24", KindReserved},  // 6to4 relay anycast
		{"192.168.0.0/16", KindPrivate},
		{"192.175.48.0/24", KindReserved}, // AS112
		{"198.18.0.0/15", KindReserved},   // benchmarking
		{"198.51.100.0/24", KindReserved}, // TEST-NET-2
		{"203.0.113.0/24", KindReserved},  // TEST-NET-3
		{"224.0.0.0/4", KindMulticast},
		{"240.0.0.0/4", KindReserved},
		// IPv6 (IPv4-mapped addresses are unmapped before the lookup)
		{"::/128", KindUnspecified},
		{"::1/128", KindLoopback},
		{"fd00:ec2::254/128", KindMetadata}, // AWS over IPv6
		{"::/96", KindReserved},             // IPv4-compatible (deprecated)
		{"64:ff9b::/96", KindReserved},      // NAT64: would reach any IPv4 address
		{"64:ff9b:1::/48", KindReserved},    // local-use NAT64
		{"100::/64", KindReserved},          // discard-only
		{"2001::/23", KindReserved},         // IETF protocol assignments, Teredo
		{"2001:db8::/32", KindReserved},     // documentation
		{"2002::/16", KindReserved},         // 6to4: embeds any IPv4 address
		{"3fff::/20", KindReserved},         // documentation
		{"5f00::/16", KindReserved},         // segment routing SIDs
		{"fc00::/7", KindPrivate},           // unique local (ULA)
		{"fe80::/10", KindLinkLocal},
		{"fec0::/10", KindPrivate}, // site-local (deprecated)
		{"ff00::/8", KindMulticast},
	}
	out := make([]specialRange, len(table))
	for i, e := range table {
		out[i] = specialRange{netip.MustParsePrefix(e.cidr), e.kind}
	}
	return out
}()

// Classify says what kind of address ip is. IPv4-mapped IPv6 addresses
// are classified as the IPv4 address they carry; an invalid address is
// KindUnspecified.
func Classify(ip netip.Addr) Kind {
	if !ip.IsValid() {
		return KindUnspecified
	}
	ip = ip.Unmap().WithZone("")
	for _, r := range specialRanges {
		if r.prefix.Contains(ip) {
			return r.kind
		}
	}
	return KindPublic
}
