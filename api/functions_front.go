package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

// frontParams validates the front fields of a deploy over base (none on
// create, the current version's on update): an omitted field keeps base's.
func frontParams(req *FrontRequest, base store.Front) (store.Front, error) {
	out := base
	bad := func(field string, err error) error {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: field, Message: field + ": " + err.Error()}
	}
	if req.CORSOrigins != nil {
		o, err := functions.NormalizeOrigins(*req.CORSOrigins)
		if err != nil {
			return out, bad("cors_origins", err)
		}
		out.CORSOrigins = o
		if len(o) == 0 {
			out.CORSOrigins = nil
		}
	}
	if req.Rate != nil {
		r, err := functions.ParseRate(*req.Rate)
		if err != nil {
			return out, bad("rate", err)
		}
		r.Burst, r.PerIP = r.Count, base.Rate.PerIP // a new rate's default burst is its count
		out.Rate = r
	}
	if req.Burst != nil {
		out.Rate.Burst = *req.Burst
		if !out.Rate.Enabled() {
			return out, bad("burst", fmt.Errorf("--burst %d needs a rate: add --rate N/s", *req.Burst))
		}
	}
	if req.RatePerIP != nil {
		out.Rate.PerIP = *req.RatePerIP
		if *req.RatePerIP && !out.Rate.Enabled() {
			return out, bad("rate_per_ip", errors.New("--rate-per-ip needs a rate: add --rate N/s"))
		}
	}
	if !out.Rate.Enabled() {
		out.Rate = functions.RateLimit{}
	}
	if err := out.Rate.Validate(); err != nil {
		return out, bad("burst", err)
	}
	if req.Env != nil {
		if err := functions.ValidateEnv(*req.Env); err != nil {
			return out, bad("env", err)
		}
		out.Env = maps.Clone(*req.Env)
		if len(out.Env) == 0 {
			out.Env = nil
		}
	}
	return out, nil
}

// frontView is a version's front as the API shows it.
func frontView(f store.Front) FrontView {
	env := f.Env
	if env == nil {
		env = map[string]string{}
	}
	return FrontView{
		CORSOrigins: nonNilStrings(f.CORSOrigins),
		Rate:        f.Rate.String(),
		Burst:       f.Rate.Burst,
		RatePerIP:   f.Rate.PerIP,
		Env:         env,
	}
}
