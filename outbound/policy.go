package outbound

import (
	"fmt"
	"net/netip"
	"strconv"
)

// RefusedError is a destination the policy refuses. Its message is what
// the function's Lua code sees: "10.0.0.1 is a private address; allow it
// with --allow-net".
type RefusedError struct {
	// Host is the URL's host (a name or the IP itself), IP and Port what
	// the connection was going to.
	Host string
	IP   netip.Addr
	Port int
	// Kind is the address's kind; Reason is "kind" (refused because of
	// it), "node-deny" or "node-allow" (the node's lists).
	Kind   Kind
	Reason string
}

func (e *RefusedError) Error() string {
	who := e.IP.String()
	if e.Host != "" && e.Host != who {
		who = e.Host + " (" + who + ")"
	}
	dest := netip.AddrPortFrom(e.IP, uint16(e.Port)).String()
	switch e.Reason {
	case "node-deny":
		return fmt.Sprintf("%s port %d is denied on this node (picloud serve --outbound-deny)", who, e.Port)
	case "node-allow":
		return fmt.Sprintf("%s port %d is not in this node's allowed destinations (picloud serve --outbound-allow)", who, e.Port)
	}
	if e.Host != "" && e.Host != e.IP.String() {
		return fmt.Sprintf("%s resolves to %s, %s; allow it with --allow-net %s", e.Host, e.IP, e.Kind.describe(),
			e.Host+":"+strconv.Itoa(e.Port))
	}
	return fmt.Sprintf("%s is %s; allow it with --allow-net %s", e.IP, e.Kind.describe(), dest)
}

// policy decides which destinations one function version may connect to:
// public addresses, and what its grants name, within the node's lists.
type policy struct {
	grants    []Pattern // the function version's --allow-net
	nodeAllow []Pattern // picloud serve --outbound-allow; empty: no restriction
	nodeDeny  []Pattern // picloud serve --outbound-deny; wins over everything
}

// check says whether a connection to ip:port for the URL host name host
// (lower-case, no trailing dot) is allowed; nil if so, else a
// *RefusedError.
func (p *policy) check(host string, ip netip.Addr, port int) error {
	ip = ip.Unmap().WithZone("")
	kind := Classify(ip)
	refuse := func(reason string) error {
		return &RefusedError{Host: host, IP: ip, Port: port, Kind: kind, Reason: reason}
	}
	if _, ok := matchAny(p.nodeDeny, host, ip, port); ok {
		return refuse("node-deny")
	}
	if len(p.nodeAllow) > 0 {
		if _, ok := matchAny(p.nodeAllow, host, ip, port); !ok {
			return refuse("node-allow")
		}
	}
	if kind == KindPublic {
		return nil
	}
	if _, ok := matchAny(p.grants, host, ip, port); ok {
		return nil
	}
	return refuse("kind")
}
