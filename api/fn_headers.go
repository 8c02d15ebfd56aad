package api

import (
	"net/http"
	"strings"
)

// The warm path copies headers both ways on every call; these tables let
// the common names through without allocating a converted copy each time.

// commonHeaderNames are request and answer header names most calls carry.
var commonHeaderNames = []string{
	"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control", "Connection",
	"Content-Encoding", "Content-Language", "Content-Length", "Content-Type", "Cookie", "Etag", "Expires",
	"Host", "If-Match", "If-Modified-Since", "If-None-Match", "Last-Modified", "Location", "Origin",
	"Pragma", "Referer", "Set-Cookie", "User-Agent", "Vary", "X-Forwarded-For", "X-Forwarded-Host",
	"X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
}

// lowerHeaderNames maps a canonical name to its lower-case form, and
// canonicalHeaderNames a lower-case name to its canonical form.
var lowerHeaderNames, canonicalHeaderNames = func() (map[string]string, map[string]string) {
	lower, canon := make(map[string]string), make(map[string]string)
	for _, k := range commonHeaderNames {
		lower[k] = strings.ToLower(k)
		canon[strings.ToLower(k)] = k
	}
	return lower, canon
}()

// lowerHeaderName is strings.ToLower(k) for a request header name.
func lowerHeaderName(k string) string {
	if l, ok := lowerHeaderNames[k]; ok {
		return l
	}
	return strings.ToLower(k)
}

// canonicalHeaderName is http.CanonicalHeaderKey(k) for a function's
// answer header name.
func canonicalHeaderName(k string) string {
	if c, ok := canonicalHeaderNames[k]; ok {
		return c
	}
	return http.CanonicalHeaderKey(k)
}

// invocationIDKey is HeaderInvocationID as net/http stores it.
var invocationIDKey = http.CanonicalHeaderKey(HeaderInvocationID)
