// Package outbound makes the HTTP requests functions ask for with
// http.request in Lua. Workers have no sockets: the worker sends the
// request to the supervisor as a host call and the supervisor's Host hands
// it to a Client, which decides whether the destination may be reached and
// makes the request with bounded time, size and count.
//
// The check is on the IP address each connection is actually made to: the
// dialer's Control hook runs it right before connect(2), for the first
// request and for every redirect, so neither a name that resolves to a
// private address nor DNS rebinding between a check and the connection can
// get around it. Public addresses are reachable; loopback, private,
// link-local, CGNAT, multicast, unspecified, broadcast, the cloud metadata
// address and the other special-purpose ranges (Classify) are refused
// unless the function version was granted them at deploy (--allow-net).
// The node's own lists (Config.Allow, Config.Deny) restrict every function.
package outbound

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/picloud/picloud/protocol"
)

// Defaults of Config.
const (
	DefaultMaxBodyBytes = 8 << 20
	DefaultMaxRequests  = 50
	DefaultMaxInFlight  = 4
	DefaultMaxRedirects = 5
	// MaxBodyLimit bounds Config.MaxBodyBytes: a response travels to the
	// worker in one frame of the data path (protocol.MaxFrameBytes).
	MaxBodyLimit = 32 << 20
)

// Bounds of a request that do not need a knob.
const (
	maxURLBytes       = 8 << 10
	maxRequestHeaders = 100
	maxHeaderBytes    = 64 << 10
	maxAddrs          = 8
	maxClients        = 128
	// deadlineMargin is kept between a request's end and its call's
	// deadline, so the refusal reaches the Lua code before the call ends.
	deadlineMargin = 50 * time.Millisecond
)

// Outcomes of a request, as Observer sees them.
const (
	OutcomeOK        = "ok"         // an answer came back (any status)
	OutcomeRefused   = "refused"    // the destination is not allowed
	OutcomeTimeout   = "timeout"    // the request's time ran out
	OutcomeTooLarge  = "too_large"  // the request or response body is over the cap
	OutcomeOverLimit = "over_limit" // over the requests of one invocation
	OutcomeInvalid   = "invalid"    // a bad URL, method or header
	OutcomeError     = "error"      // the connection or the exchange failed
)

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Observer is told the outcome of every request (for metrics). It must
// return quickly and be safe for concurrent use.
type Observer interface {
	OutboundRequest(function, outcome string)
}

// Config configures a Client. The zero value is usable.
type Config struct {
	// Allow, if not empty, are the only destinations any function of the
	// node may reach (picloud serve --outbound-allow), public or granted.
	// Deny are destinations no function may reach (--outbound-deny), even
	// if granted; deny wins. Patterns as ParsePattern takes them.
	Allow []string
	Deny  []string
	// MaxBodyBytes bounds the request body and the response body of one
	// request; 0 means DefaultMaxBodyBytes, at most MaxBodyLimit.
	MaxBodyBytes int64
	// MaxRequests bounds the requests of one invocation; 0 means
	// DefaultMaxRequests.
	MaxRequests int
	// MaxInFlight bounds the requests one worker process has in flight
	// (a worker runs several calls at once); 0 means DefaultMaxInFlight.
	MaxInFlight int
	// MaxRedirects bounds the redirects one request follows; 0 means
	// DefaultMaxRedirects.
	MaxRedirects int
	// Resolver looks names up; nil means net.DefaultResolver.
	Resolver Resolver
	// RootCAs are the certificate authorities TLS trusts; nil means the
	// system's. Certificates are always verified.
	RootCAs *x509.CertPool
	// Observer is told every request's outcome; nil means nobody.
	Observer Observer
}

// Client makes functions' outbound requests. It is safe for concurrent
// use; Close releases its idle connections.
type Client struct {
	cfg       Config
	nodeAllow []Pattern
	nodeDeny  []Pattern
	resolver  Resolver

	mu      sync.Mutex
	clients map[string]*http.Client // by the grants of a function version
	slots   map[uint64]*workerSlots // requests in flight, by worker
}

var errNoScope = errors.New("outbound HTTP is only available inside a call")

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	allow, err := ParsePatterns(cfg.Allow)
	if err != nil {
		return nil, fmt.Errorf("outbound allow list: %w", err)
	}
	deny, err := ParsePatterns(cfg.Deny)
	if err != nil {
		return nil, fmt.Errorf("outbound deny list: %w", err)
	}
	switch {
	case cfg.MaxBodyBytes < 0 || cfg.MaxBodyBytes > MaxBodyLimit:
		return nil, fmt.Errorf("outbound max body %d is out of range: use 1 to %d bytes", cfg.MaxBodyBytes, MaxBodyLimit)
	case cfg.MaxRequests < 0, cfg.MaxInFlight < 0, cfg.MaxRedirects < 0:
		return nil, errors.New("outbound limits must not be negative")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	c := &Client{cfg: cfg, nodeAllow: allow, nodeDeny: deny, resolver: cfg.Resolver,
		clients: map[string]*http.Client{}, slots: map[uint64]*workerSlots{}}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	return c, nil
}

// Close closes the idle connections of every function's client.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, hc := range c.clients {
		hc.CloseIdleConnections()
		delete(c.clients, k)
	}
}

// HTTPRequest makes req for the call in ctx (protocol.CallScopeFrom: the
// function version's grants, the call's deadline, its worker). It is
// protocol.Host's HTTPRequest. Every refusal and failure is an error
// meant for the function's author.
func (c *Client) HTTPRequest(ctx context.Context, function string, req *protocol.HTTPRequest) (*protocol.HTTPResponse, error) {
	resp, outcome, err := c.do(ctx, req)
	if c.cfg.Observer != nil {
		c.cfg.Observer.OutboundRequest(function, outcome)
	}
	return resp, err
}

func (c *Client) do(ctx context.Context, req *protocol.HTTPRequest) (*protocol.HTTPResponse, string, error) {
	scope := protocol.CallScopeFrom(ctx)
	if scope == nil {
		return nil, OutcomeInvalid, errNoScope
	}
	if n := scope.AddHTTPRequest(); n > int64(c.cfg.MaxRequests) {
		return nil, OutcomeOverLimit, fmt.Errorf("over the limit of %d requests per invocation", c.cfg.MaxRequests)
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	u, err := checkURL(req.URL)
	if err != nil {
		return nil, OutcomeInvalid, err
	}
	if len(req.Headers) > maxRequestHeaders {
		return nil, OutcomeInvalid, fmt.Errorf("%d headers is over the limit of %d", len(req.Headers), maxRequestHeaders)
	}
	if int64(len(req.Body)) > c.cfg.MaxBodyBytes {
		return nil, OutcomeTooLarge, fmt.Errorf("request body of %d bytes is over the limit of %s", len(req.Body), formatBytes(c.cfg.MaxBodyBytes))
	}
	timeout := time.Until(scope.Deadline) - deadlineMargin
	if timeout <= 0 {
		return nil, OutcomeTimeout, errors.New("the call has no time left for a request")
	}
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	hc, err := c.clientFor(scope.AllowNet)
	if err != nil {
		return nil, OutcomeInvalid, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	release, err := c.acquire(ctx, scope.Worker)
	if err != nil {
		return nil, OutcomeTimeout, fmt.Errorf("timed out after %s waiting for this worker's other requests (at most %d at once)",
			timeout.Round(time.Millisecond), c.cfg.MaxInFlight)
	}
	defer release()

	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, OutcomeInvalid, fmt.Errorf("%s %s: %w", method, redact(u), err)
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, "Host") {
			hreq.Host = v // the connection still goes to, and is checked against, the URL's host
			continue
		}
		hreq.Header.Set(k, v)
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", "picloud")
	}
	hresp, err := hc.Do(hreq)
	if err != nil {
		outcome, err := c.failure(err, method, u, timeout)
		return nil, outcome, err
	}
	defer hresp.Body.Close()
	if method != http.MethodHead && hresp.ContentLength > c.cfg.MaxBodyBytes {
		return nil, OutcomeTooLarge, c.tooLarge(method, u, hresp.ContentLength)
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		outcome, err := c.failure(err, method, u, timeout)
		return nil, outcome, err
	}
	if int64(len(data)) > c.cfg.MaxBodyBytes {
		return nil, OutcomeTooLarge, c.tooLarge(method, u, -1)
	}
	out := &protocol.HTTPResponse{Status: hresp.StatusCode, Body: data, Headers: make(map[string]string, len(hresp.Header))}
	for k, vs := range hresp.Header {
		out.Headers[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	return out, OutcomeOK, nil
}

// failure words a failed exchange and classifies it; the refusal of a
// destination is said as is (it names what to grant).
func (c *Client) failure(err error, method string, u *url.URL, timeout time.Duration) (string, error) {
	var refused *RefusedError
	if errors.As(err, &refused) {
		var ue *url.Error
		if errors.As(err, &ue) && ue.URL != u.String() {
			return OutcomeRefused, fmt.Errorf("%w (redirected from %s)", refused, redact(u))
		}
		return OutcomeRefused, refused
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is said below, without its password
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return OutcomeTimeout, fmt.Errorf("%s %s: timed out after %s", method, redact(u), timeout.Round(time.Millisecond))
	}
	return OutcomeError, fmt.Errorf("%s %s: %w", method, redact(u), err)
}

func (c *Client) tooLarge(method string, u *url.URL, n int64) error {
	size := ""
	if n >= 0 {
		size = " of " + strconv.FormatInt(n, 10) + " bytes"
	}
	return fmt.Errorf("%s %s: response body%s is over the limit of %s", method, redact(u), size, formatBytes(c.cfg.MaxBodyBytes))
}

// checkURL accepts absolute http and https URLs with a host.
func checkURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLBytes {
		return nil, fmt.Errorf("url of %d bytes is over the limit of %d", len(raw), maxURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", truncate(raw, 100), errors.Unwrap(err))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: only http and https URLs can be requested", truncate(raw, 100))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("url %q has no host", truncate(raw, 100))
	}
	return u, nil
}

// redact drops a password from u for messages.
func redact(u *url.URL) string { return u.Redacted() }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// formatBytes says n in MiB or KiB when it is a whole number of them.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
