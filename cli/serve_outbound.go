package cli

import (
	"strings"

	"github.com/picloud/picloud/outbound"
)

// outboundServeFlags defines serve's flags for functions' outbound HTTP
// into o.
func outboundServeFlags(ef *envFlags, o *outbound.Config) {
	ef.List(&o.Allow, "outbound-allow", "PICLOUD_OUTBOUND_ALLOW",
		"let functions' http.request reach only `DESTS` (HOST, HOST:PORT, CIDR or *.SUFFIX, comma-separated or repeated), public or granted; empty: no restriction")
	ef.List(&o.Deny, "outbound-deny", "PICLOUD_OUTBOUND_DENY",
		"never let functions' http.request reach `DESTS` (HOST, HOST:PORT, CIDR or *.SUFFIX), even when a function was granted them with --allow-net")
	ef.Size(&o.MaxBodyBytes, "outbound-max-body", "PICLOUD_OUTBOUND_MAX_BODY", outbound.DefaultMaxBodyBytes,
		"largest request or response body of one outbound request (at most 32MiB)")
	ef.Int(&o.MaxRequests, "outbound-max-requests", "PICLOUD_OUTBOUND_MAX_REQUESTS", outbound.DefaultMaxRequests,
		"outbound requests one invocation may make, `N`")
	ef.Int(&o.MaxInFlight, "outbound-max-inflight", "PICLOUD_OUTBOUND_MAX_INFLIGHT", outbound.DefaultMaxInFlight,
		"outbound requests one worker process may have in flight at once, `N` (others wait, within their call's time)")
}

// List defines a repeatable, comma-separated list flag whose default is
// the comma-separated environment variable env.
func (e *envFlags) List(p *[]string, name, env, usage string) {
	if v := e.a.env.Getenv(env); v != "" {
		*p = strings.Split(v, ",")
	}
	e.fs.Var(&envList{list: p, fromEnv: len(*p) > 0}, name, usage+" (env "+env+")")
}

// envList is a list flag that replaces its environment default on first
// use and appends after.
type envList struct {
	list    *[]string
	fromEnv bool
}

func (v *envList) String() string {
	if v == nil || v.list == nil {
		return ""
	}
	return strings.Join(*v.list, ",")
}

func (v *envList) Set(s string) error {
	if v.fromEnv {
		*v.list, v.fromEnv = nil, false
	}
	*v.list = append(*v.list, strings.Split(s, ",")...)
	return nil
}
