package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

// CORS of /fn/NAME (deploy --cors-origin). PiCloud answers a preflight
// (OPTIONS with Origin and Access-Control-Request-Method) of a function
// with CORS origins itself, without running it:
//   - an allowed origin gets 204 with Access-Control-Allow-Origin (the
//     origin, or * when every origin is allowed), -Allow-Methods (every
//     method /fn takes), -Allow-Headers (the requested ones), -Max-Age;
//   - another origin gets 403 origin_not_allowed, with no CORS header, so
//     the browser refuses the call and the developer sees why.
//
// Other requests from an allowed origin get Access-Control-Allow-Origin and
// -Expose-Headers (the invocation id) on every answer, errors included;
// headers the function sets itself win. Functions without CORS origins are
// untouched: their OPTIONS calls run the function as before.

// Preflight answers.
const (
	corsAllowMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
	corsMaxAge       = "600" // seconds: a changed --cors-origin is seen within 10 minutes
)

// corsAllowOrigin is the Access-Control-Allow-Origin for origin under the
// allowed list, "" when not allowed.
func corsAllowOrigin(allowed []string, origin string) string {
	switch {
	case len(allowed) == 0 || origin == "":
		return ""
	case allowed[0] == functions.AnyOrigin:
		return "*"
	case slices.Contains(allowed, strings.ToLower(origin)):
		return origin
	}
	return ""
}

// isPreflight says whether r is a CORS preflight.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// fnCORS applies f's CORS to the answer being built. It reports true when
// it answered the request (a preflight) and the function must not run.
func (a *API) fnCORS(w http.ResponseWriter, r *http.Request, f *store.Function) bool {
	allowed := f.Current.Front.CORSOrigins
	if len(allowed) == 0 {
		return false
	}
	h := w.Header()
	origin := r.Header.Get("Origin")
	allow := corsAllowOrigin(allowed, origin)
	if allowed[0] != functions.AnyOrigin {
		h.Add("Vary", "Origin") // the answer depends on it
	}
	if !isPreflight(r) {
		if allow != "" {
			h.Set("Access-Control-Allow-Origin", allow)
			h.Set("Access-Control-Expose-Headers", HeaderInvocationID)
		}
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if allow == "" {
		a.rates.originRefused.Add(1)
		WriteError(w, errorf(http.StatusForbidden, CodeOriginNotAllowed,
			"origin %q may not call function %s from a browser: deploy it with --cors-origin %s",
			truncate(origin, 200), f.Name, truncate(origin, 200)))
		return true
	}
	h.Set("Access-Control-Allow-Origin", allow)
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && validTokenList(req) {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}

// validTokenList says whether s is a comma-separated list of header names.
func validTokenList(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for _, t := range strings.Split(s, ",") {
		if !validHeaderName(strings.TrimSpace(t)) {
			return false
		}
	}
	return true
}
