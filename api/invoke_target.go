package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// fnMethods are the methods /fn/NAME answers, and so the methods the invoke
// API's ?method= may give a function.
var fnMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// invokeTarget applies the invoke API's ?method=M and ?path=/P?Q to r: it
// returns a copy of r with method M (default POST) and query Q, and the
// path P, so the function sees what a call of /fn/NAME/P?Q with method M
// would give it. picloud invoke calls through here with its token, which
// the invoke API strips, instead of sending the token to /fn/NAME.
func invokeTarget(r *http.Request, method, path string) (*http.Request, string, error) {
	if method == "" {
		method = http.MethodPost
	}
	method = strings.ToUpper(method)
	if !slices.Contains(fnMethods, method) {
		return nil, "", &Error{Status: http.StatusBadRequest, Code: CodeInvalidValue, Field: "method",
			Message: fmt.Sprintf("method %q is not one a function answers: use one of %s", truncate(method, 20), strings.Join(fnMethods, ", "))}
	}
	if path == "" {
		path = "/"
	}
	u, err := url.Parse(path)
	if err != nil || !strings.HasPrefix(path, "/") || u.Scheme != "" || u.Host != "" {
		return nil, "", &Error{Status: http.StatusBadRequest, Code: CodeInvalidValue, Field: "path",
			Message: fmt.Sprintf("path %q is invalid: give the part after /fn/NAME, starting with /, like /orders?id=3", truncate(path, 80))}
	}
	r2 := r.Clone(r.Context())
	r2.Method = method
	r2.URL.RawQuery = u.RawQuery
	p := u.Path
	if p == "" {
		p = "/"
	}
	return r2, p, nil
}
