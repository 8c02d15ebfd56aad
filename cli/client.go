package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/picloud/picloud/api"
)

// Client is a small typed client of the PiCloud HTTP API: one method per
// route the CLI uses, the JSON types of package api.
type Client struct {
	// BaseURL is the server, like "http://127.0.0.1:8080" (no trailing
	// slash needed).
	BaseURL string
	// Token is sent as a bearer token when not empty.
	Token string
	// TokenSource says where Token came from ("PICLOUD_TOKEN" or a file
	// path), for the message of a rejected token; TokenHint says where it
	// was looked for when none was found.
	TokenSource string
	TokenHint   string
	// HTTP is the client used; nil means one with a 60 s timeout.
	HTTP *http.Client
}

// APIError is a non-2xx answer of the server with its JSON error body.
type APIError struct {
	Status int
	Body   api.ErrorBody
}

func (e *APIError) Error() string {
	msg := e.Body.Error
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", clean(msg), e.Status)
}

// ConnError means the server could not be reached at all (the connection
// failed).
type ConnError struct {
	URL string
	Err error
}

func (e *ConnError) Error() string {
	msg := fmt.Sprintf("cannot reach PiCloud at %s — is `picloud serve` running?", e.URL)
	if !errors.Is(e.Err, syscall.ECONNREFUSED) {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

func (e *ConnError) Unwrap() error { return e.Err }

// AuthError is a 401: no token, or one the server does not accept.
type AuthError struct {
	Source string // where the token came from, "" when there was none
	Hint   string // where a token was looked for
	Msg    string // the server's message
}

func (e *AuthError) Error() string {
	switch {
	case e.Source == "":
		return fmt.Sprintf("no token: set PICLOUD_TOKEN, or make the admin token readable at %s (picloud serve writes it on first start)", e.Hint)
	case e.Source == "PICLOUD_TOKEN":
		return "the server rejected the token: check PICLOUD_TOKEN (or unset it to use the admin token file)"
	default:
		return fmt.Sprintf("the server rejected the token: set PICLOUD_TOKEN or check %s", e.Source)
	}
}

// ScopeError is a 403: the token is valid but lacks a scope.
type ScopeError struct{ Msg string }

func (e *ScopeError) Error() string {
	return fmt.Sprintf("not allowed: %s — use a token with that scope (picloud token create NAME --scope ...)", clean(e.Msg))
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 60 * time.Second}
}

func (c *Client) url(path string) string {
	return strings.TrimRight(c.BaseURL, "/") + path
}

// send makes one request with the token and returns the response with its
// body still open; it turns transport failures into *ConnError.
func (c *Client) send(ctx context.Context, method, path string, header http.Header, body io.Reader) (*http.Response, error) {
	return c.sendAs(ctx, c.Token, method, path, header, body)
}

// sendAs is send with the given token ("" for none).
func (c *Client) sendAs(ctx context.Context, token, method, path string, header http.Header, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	if s, ok := body.(sizedReader); ok { // a streamed upload of known size
		req.ContentLength = s.Size()
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := c.httpClient()
	if (strings.HasPrefix(path, "/fn/") || strings.Contains(path, "/invoke?")) && c.HTTP == nil {
		hc = &http.Client{} // a call is bounded by the function's own timeout
	}
	if strings.HasPrefix(path, "/api/v1/blobs/") && c.HTTP == nil {
		hc = &http.Client{} // a transfer takes as long as its size needs
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		err = unwrapURLError(err)
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return nil, &ConnError{URL: strings.TrimRight(c.BaseURL, "/"), Err: err}
		}
		return nil, fmt.Errorf("%s %s: %w", method, c.url(path), err)
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// do sends in (JSON, unless nil) and decodes a 2xx answer into out (unless
// nil); a non-2xx answer becomes an error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	header := http.Header{"Accept": {"application/json"}}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
		header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(ctx, method, path, header, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.errorFrom(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// errorFrom reads a non-2xx answer into the error the user should see.
func (c *Client) errorFrom(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb api.ErrorBody
	if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
		eb = api.ErrorBody{Error: strings.TrimSpace(string(raw))}
		if len(eb.Error) > 300 {
			eb.Error = eb.Error[:300] + "..."
		}
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return &AuthError{Source: c.TokenSource, Hint: c.TokenHint, Msg: eb.Error}
	case http.StatusForbidden:
		return &ScopeError{Msg: eb.Error}
	}
	return &APIError{Status: resp.StatusCode, Body: eb}
}

// fnPath escapes a function name for a path segment.
func fnPath(name string) string {
	return "/api/v1/functions/" + url.PathEscape(name)
}

// CreateFunction creates a function with its first version.
func (c *Client) CreateFunction(ctx context.Context, req api.FunctionRequest) (api.Function, error) {
	var f api.Function
	err := c.do(ctx, http.MethodPost, "/api/v1/functions", req, &f)
	return f, err
}

// UpdateFunction deploys a new version of an existing function.
func (c *Client) UpdateFunction(ctx context.Context, name string, req api.FunctionRequest) (api.Function, error) {
	var f api.Function
	err := c.do(ctx, http.MethodPut, fnPath(name), req, &f)
	return f, err
}

// GetFunction returns a function and its current version.
func (c *Client) GetFunction(ctx context.Context, name string) (api.Function, error) {
	var f api.Function
	err := c.do(ctx, http.MethodGet, fnPath(name), nil, &f)
	return f, err
}

// ListFunctions returns every function, page by page.
func (c *Client) ListFunctions(ctx context.Context) ([]api.Function, error) {
	var all []api.Function
	after := ""
	for {
		var l api.FunctionList
		q := url.Values{"limit": {"1000"}}
		if after != "" {
			q.Set("after", after)
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/functions?"+q.Encode(), nil, &l); err != nil {
			return nil, err
		}
		all = append(all, l.Functions...)
		if l.Next == "" {
			return all, nil
		}
		after = l.Next
	}
}

// DeleteFunction deletes a function with all its versions.
func (c *Client) DeleteFunction(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, fnPath(name), nil, nil)
}

// Versions returns a function's versions, newest first.
func (c *Client) Versions(ctx context.Context, name string) ([]api.Version, error) {
	var l api.VersionList
	err := c.do(ctx, http.MethodGet, fnPath(name)+"/versions", nil, &l)
	return l.Versions, err
}

// Rollback makes version the current one; 0 means the previous version.
func (c *Client) Rollback(ctx context.Context, name string, version int) (api.Function, error) {
	var f api.Function
	err := c.do(ctx, http.MethodPost, fnPath(name)+"/rollback", api.RollbackRequest{Version: version}, &f)
	return f, err
}

// InvocationQuery filters GET /api/v1/invocations.
type InvocationQuery struct {
	Function string
	Status   string
	Limit    int
	Cursor   string
}

// Invocations returns one page of invocation records, newest first.
func (c *Client) Invocations(ctx context.Context, q InvocationQuery) (api.InvocationList, error) {
	v := url.Values{}
	if q.Function != "" {
		v.Set("function", q.Function)
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	path := "/api/v1/invocations"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var l api.InvocationList
	err := c.do(ctx, http.MethodGet, path, nil, &l)
	return l, err
}

// Invocation returns one invocation with its log lines.
func (c *Client) Invocation(ctx context.Context, id string) (api.Invocation, error) {
	var inv api.Invocation
	err := c.do(ctx, http.MethodGet, "/api/v1/invocations/"+url.PathEscape(id), nil, &inv)
	return inv, err
}

// CreateToken creates a token; the answer holds its secret, shown once.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.TokenCreated, error) {
	var t api.TokenCreated
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", req, &t)
	return t, err
}

// ListTokens returns the tokens that are not revoked.
func (c *Client) ListTokens(ctx context.Context) ([]api.Token, error) {
	return allPages(ctx, c, "/api/v1/tokens", nil, func(l *api.TokenList) ([]api.Token, string) { return l.Tokens, l.Next })
}

// RevokeToken revokes the token called name.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(name), nil, nil)
}

// InvokeRequest is one call of a function through its HTTP endpoint.
type InvokeRequest struct {
	Name   string
	Path   string // after /fn/NAME, "" or starting with "/" or "?"
	Method string
	Header http.Header
	Body   []byte
	// Async queues the call (X-PiCloud-Async: 1): the answer is 202 with
	// an api.AsyncAccepted body.
	Async bool
}

// InvokeResult is the function's HTTP answer.
type InvokeResult struct {
	Status int
	Header http.Header
	Body   []byte
}

// Invoke calls a function and returns its answer. The token never
// reaches the function: with a token the call goes through the invoke API
// (POST /api/v1/functions/NAME/invoke?method=M&path=/P?Q), which checks the
// token and strips it from the function's request headers. Without one,
// or when the server refuses the token (revoked, or without the invoke
// scope), the call goes to /fn/NAME without any token, as any anonymous
// HTTP client's would: public functions answer, private ones say 401.
//
// Earlier versions called /fn/NAME without the token and retried with it
// on a 401, so a public function answering 401 itself got the token.
func (c *Client) Invoke(ctx context.Context, r InvokeRequest) (InvokeResult, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
		if r.Body != nil {
			method = http.MethodPost
		}
	}
	if c.Token != "" {
		res, err := c.invokeAs(ctx, c.Token, http.MethodPost, invokeAPIPath(r, method), r.Header, r)
		if err != nil || !platformAuthError(res) {
			return res, err
		}
	}
	header := r.Header
	if r.Async {
		header = r.Header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set(api.HeaderAsync, "1")
	}
	return c.invokeAs(ctx, "", method, "/fn/"+url.PathEscape(r.Name)+r.Path, header, r)
}

// invokeAPIPath is the invoke API's URL for r: the function's method, path
// and query travel as the parameters method and path.
func invokeAPIPath(r InvokeRequest, method string) string {
	path := r.Path
	if path == "" || path[0] == '?' {
		path = "/" + path
	}
	v := url.Values{"method": {method}, "path": {path}}
	if r.Async {
		v.Set("async", "1")
	}
	return fnPath(r.Name) + "/invoke?" + v.Encode()
}

// platformAuthError reports whether res is the server refusing the token
// (401 or 403 before any function ran: no invocation id) rather than a
// function's own answer.
func platformAuthError(res InvokeResult) bool {
	return (res.Status == http.StatusUnauthorized || res.Status == http.StatusForbidden) &&
		res.Header.Get(api.HeaderInvocationID) == ""
}

// invokeAs sends one call of r with the given token ("" for none).
func (c *Client) invokeAs(ctx context.Context, token, method, path string, header http.Header, r InvokeRequest) (InvokeResult, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	resp, err := c.sendAs(ctx, token, method, path, header, body)
	if err != nil {
		return InvokeResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return InvokeResult{}, fmt.Errorf("read answer of %s: %w", r.Name, err)
	}
	return InvokeResult{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// SetSecret creates or replaces the secret name.
func (c *Client) SetSecret(ctx context.Context, name, value string) error {
	return c.do(ctx, http.MethodPut, "/api/v1/secrets/"+url.PathEscape(name), api.SecretRequest{Value: value}, nil)
}

// ListSecrets returns the names of the secrets.
func (c *Client) ListSecrets(ctx context.Context) ([]api.Secret, error) {
	return allPages(ctx, c, "/api/v1/secrets", nil, func(l *api.SecretList) ([]api.Secret, string) { return l.Secrets, l.Next })
}

// DeleteSecret deletes the secret name.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/secrets/"+url.PathEscape(name), nil, nil)
}

// isNotFound reports whether err is a 404 of the API.
func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}
