package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/picloud/picloud/protocol"
)

// What a function's answer may carry. A function answers on the same
// origin as the control plane, so its headers are filtered (the README's
// "Security model" says the same):
//   - the server owns framing and its own headers: hop-by-hop headers,
//     Content-Length and every X-PiCloud-* header are dropped;
//   - headers that act on the whole origin are dropped:
//     Strict-Transport-Security, Clear-Site-Data, Alt-Svc, Expect-CT,
//     Public-Key-Pins[-Report-Only], and any Set-Cookie with a Domain
//     attribute or a Path outside /fn/NAME (a function cannot plant a
//     cookie that another function or the control plane would receive);
//   - a header whose name is not an HTTP token, or whose value has a
//     control character other than tab, is dropped;
//   - the status must be 200-599 (0 means 200); 1xx and anything else
//     answer 502 invalid_response, and so does a body over MaxResponse;
//   - the answer must be sent within WriteTimeout of the function's
//     return, or the connection is closed;
//   - a header the function sets replaces the one PiCloud put there
//     (Access-Control-* of --cors-origin), but Vary is added to.

// droppedHeaders are never copied from a function's answer.
var droppedHeaders = map[string]bool{
	// framing and connection: the server owns them
	"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Trailer": true, "Te": true, "Proxy-Connection": true,
	// origin-wide
	"Strict-Transport-Security": true, "Clear-Site-Data": true, "Alt-Svc": true, "Expect-Ct": true,
	"Public-Key-Pins": true, "Public-Key-Pins-Report-Only": true,
}

// fnHeaderAllowed says whether a function may send header k (canonical)
// with value v, answering on /fn/name.
func fnHeaderAllowed(name, k, v string) bool {
	switch {
	case droppedHeaders[k], strings.HasPrefix(k, "X-Picloud-"), !validHeaderName(k), !validHeaderValue(v):
		return false
	case k == "Set-Cookie":
		return cookieScopedTo(v, "/fn/"+name)
	}
	return true
}

// cookieScopedTo says whether the Set-Cookie value v has no Domain and a
// Path at or below base.
func cookieScopedTo(v, base string) bool {
	path := ""
	for _, attr := range strings.Split(v, ";")[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(attr), "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "domain":
			return false
		case "path":
			path = strings.TrimSpace(val)
		}
	}
	return path == base || strings.HasPrefix(path, base+"/")
}

// validHeaderName: an RFC 9110 token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue: no control character but horizontal tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// writeFnResponse writes the answer of function name: its status, the
// headers it may send, and its body.
func (a *API) writeFnResponse(w http.ResponseWriter, name string, resp *protocol.Response) {
	if int64(len(resp.Body)) > a.deps.MaxResponse {
		WriteError(w, errorf(http.StatusBadGateway, CodeInvalidResponse,
			"function %s answered %d bytes, more than the limit of %s (picloud serve --max-response)",
			name, len(resp.Body), ByteSize(a.deps.MaxResponse)))
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(a.now().Add(a.deps.WriteTimeout))
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 599 {
		WriteError(w, errorf(http.StatusBadGateway, CodeInvalidResponse,
			"function %s answered status %d: a function may answer 200 to 599", name, status))
		return
	}
	// One backing array holds every value (each header gets a full slice
	// of it, so an append by anyone copies), not one allocation each.
	h := w.Header()
	vals := make([]string, 0, len(resp.Headers)+1)
	for k, v := range resp.Headers {
		ck := canonicalHeaderName(k)
		if !fnHeaderAllowed(name, ck, v) {
			continue
		}
		if ck == "Vary" && len(h["Vary"]) > 0 {
			h.Add(ck, v) // keep the Vary: Origin of CORS (fn_cors.go)
			continue
		}
		// The function's own CORS headers win over ours.
		vals = append(vals, v)
		h[ck] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	vals = append(vals, strconv.Itoa(len(resp.Body)))
	h["Content-Length"] = vals[len(vals)-1 : len(vals) : len(vals)]
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}
