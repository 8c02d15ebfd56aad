package e2etest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Request is one HTTP request to a node.
type Request struct {
	Method string
	Path   string // with the query, say "/api/v1/invocations?function=f"
	Token  string // sent as a bearer token unless ""
	Body   any    // []byte, string, or a value to send as JSON
	Header map[string]string
}

// Response is an HTTP answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// httpTimeout bounds one request of Do.
const httpTimeout = 60 * time.Second

// waitTimeout bounds WaitInvocation (generous for a loaded machine).
const waitTimeout = 30 * time.Second

// Do sends r to the node and reads the answer; it fails the test when the
// request gets no answer.
func (n *Node) Do(t testing.TB, r Request) Response {
	t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode the body of %s %s: %v", r.Method, r.Path, err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(r.Method, n.URL+r.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	client := &http.Client{Timeout: httpTimeout}
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.Method, r.Path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// JSON decodes the body into v; it fails the test when it cannot.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %d %q: %v", r.Status, r.Body, err)
	}
}

// ErrorBody decodes a JSON error answer {"error","code"} and checks its
// shape and Content-Type.
func (r Response) ErrorBody(t testing.TB) (msg, code string) {
	t.Helper()
	var eb struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if err := json.Unmarshal(r.Body, &eb); err != nil || eb.Error == "" || eb.Code == "" {
		t.Fatalf("want a JSON error body {error, code}, got %d %q", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	return eb.Error, eb.Code
}

// Deploy creates a function with the admin token (body as POST
// /api/v1/functions takes it); it fails the test unless the answer is 201.
func (n *Node) Deploy(t testing.TB, body map[string]any) {
	t.Helper()
	r := n.Do(t, Request{Method: http.MethodPost, Path: "/api/v1/functions", Token: n.Admin, Body: body})
	if r.Status != http.StatusCreated {
		t.Fatalf("create %v: %d %s", body["name"], r.Status, r.Body)
	}
}

// WaitInvocation polls GET /api/v1/invocations/ID with the admin token
// until the invocation is stored (the batched writer's records take a
// moment) and returns it.
func (n *Node) WaitInvocation(t testing.TB, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		r := n.Do(t, Request{Method: http.MethodGet, Path: "/api/v1/invocations/" + id, Token: n.Admin})
		if r.Status == http.StatusOK {
			var m map[string]any
			r.JSON(t, &m)
			return m
		}
		if r.Status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("invocation %s: %d %s", id, r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
