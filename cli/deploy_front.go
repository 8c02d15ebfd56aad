package cli

import (
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/picloud/picloud/api"
)

// frontFlags are deploy's flags for the HTTP front and config of a version:
// --cors-origin, --rate, --burst, --rate-per-ip and --env.
type frontFlags struct {
	origins []string
	rate    string
	burst   int
	perIP   bool
	env     []string
}

// register defines the flags on fs.
func (ff *frontFlags) register(fs *flag.FlagSet) {
	fs.Var(listValue{&ff.origins}, "cors-origin", "let web pages from `ORIGIN` (scheme://host[:port], comma-separated or repeated; * for any) call /fn/NAME: PiCloud answers their preflight OPTIONS itself; '' allows none (default: the current version's)")
	fs.StringVar(&ff.rate, "rate", "", "limit calls of /fn/NAME to `N/s`, N/m or N/h on each node (429 + Retry-After beyond, before any worker runs); off removes the limit (default: the current version's)")
	fs.IntVar(&ff.burst, "burst", 0, "allow `N` calls at once above --rate (default: the rate's count, 20 for 20/s)")
	fs.BoolVar(&ff.perIP, "rate-per-ip", false, "apply --rate to each client address on its own instead of to every caller together (--rate-per-ip=false turns it off)")
	fs.Var(listValue{&ff.env}, "env", "set env.KEY in Lua to VALUE, given as `KEY=VALUE`; repeat for more (non-secret settings; use secrets for the rest); '' sets none (default: the current version's)")
}

// apply puts the flags given (set) into req.
func (ff *frontFlags) apply(set map[string]bool, req *api.FrontRequest) error {
	if set["cors-origin"] {
		origins := []string{}
		for _, s := range ff.origins {
			for _, o := range strings.Split(s, ",") {
				if o = strings.TrimSpace(o); o != "" {
					origins = append(origins, o)
				}
			}
		}
		req.CORSOrigins = &origins
	}
	if set["rate"] {
		req.Rate = &ff.rate
	}
	if set["burst"] {
		req.Burst = &ff.burst
	}
	if set["rate-per-ip"] {
		req.RatePerIP = &ff.perIP
	}
	if set["env"] {
		env := map[string]string{}
		for _, kv := range ff.env {
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--env %q: write KEY=VALUE", kv)
			}
			if _, dup := env[k]; dup {
				return fmt.Errorf("--env %s is given twice", k)
			}
			env[k] = v
		}
		req.Env = &env
	}
	return nil
}

// frontFlagOf names the deploy flag of a front field in an API error.
var frontFlagOf = map[string]string{
	"cors_origins": "--cors-origin",
	"rate":         "--rate",
	"burst":        "--burst",
	"rate_per_ip":  "--rate-per-ip",
	"env":          "--env",
}

// frontText is the front of a version for deploy's output, one line.
func frontText(f api.FrontView) string {
	cors := "none"
	if len(f.CORSOrigins) > 0 {
		cors = strings.Join(f.CORSOrigins, ",")
	}
	return fmt.Sprintf("cors: %s; rate: %s; env: %s", cors, rateText(f), envKeys(f.Env, "none"))
}

// frontColumn is the front of a version for a table column.
func frontColumn(f api.FrontView) string {
	var parts []string
	if len(f.CORSOrigins) > 0 {
		parts = append(parts, "cors="+strings.Join(f.CORSOrigins, ","))
	}
	if f.Rate != "" {
		parts = append(parts, "rate="+rateText(f))
	}
	if len(f.Env) > 0 {
		parts = append(parts, "env="+envKeys(f.Env, ""))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func rateText(f api.FrontView) string {
	if f.Rate == "" {
		return "none"
	}
	s := fmt.Sprintf("%s burst %d", f.Rate, f.Burst)
	if f.RatePerIP {
		s += " per IP"
	}
	return s
}

// envKeys lists the keys of env, sorted (values are in --json).
func envKeys(env map[string]string, none string) string {
	if len(env) == 0 {
		return none
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}
