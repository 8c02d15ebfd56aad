package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/internal/ssetest"
	"github.com/picloud/picloud/store"
)

// Streams are bound to the token that opened them (directly or through a
// ticket): a revocation ends them on every node, a ticket opens only its
// topics, and a token holds a bounded number of streams.

// newToken creates a token with scopes on b's database and returns its
// secret.
func newToken(t *testing.T, b *streamBundle, name string, scopes ...string) string {
	t.Helper()
	secret, hash, err := NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.CreateToken(context.Background(), name, scopes, hash[:]); err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	return secret
}

func bearer(secret string) http.Header { return http.Header{"Authorization": {"Bearer " + secret}} }

// ticketFor asks srv for a ticket with secret, for topics.
func ticketFor(t *testing.T, srv string, secret string, topics ...string) string {
	t.Helper()
	q := url.Values{"topic": topics}
	req, _ := http.NewRequest(http.MethodPost, srv+"/api/v1/events/tickets?"+q.Encode(), nil)
	req.Header = bearer(secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tk Ticket
	if err := json.NewDecoder(resp.Body).Decode(&tk); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("ticket: %d %v", resp.StatusCode, err)
	}
	return tk.Ticket
}

// openStatus opens a stream and returns the status and, for an error, the
// JSON error body (the stream itself is closed).
func openStatus(t *testing.T, rawURL string, h http.Header) (int, ErrorBody, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if h != nil {
		req.Header = h
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body ErrorBody
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &body); err != nil || body.Error == "" {
			t.Fatalf("status %d with a body that is not a JSON error: %s", resp.StatusCode, b)
		}
	}
	return resp.StatusCode, body, resp.Header
}

// waitEnded reads r until the stream ends; it fails the test if it is
// still open after d.
func waitEnded(t *testing.T, what string, body io.Closer, r *ssetest.Reader, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := r.Next(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Logf("%s ended with %v", what, err)
		}
	case <-time.After(d):
		body.Close()
		t.Fatalf("%s still open %s after its token was revoked", what, d)
	}
}

func TestStream_RevokedTokenStreamsEndOnEveryNode(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	// Two nodes on one database, each with its own LISTEN connection.
	svc1 := startService(t, b, nil)
	svc2 := startService(t, b, nil)
	srv1, srv2 := serveHTTP(t, b, svc1), serveHTTP(t, b, svc2)
	viewer := newToken(t, b, "viewer", ScopeRead)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	s1, r1 := ssetest.Open(t, ctx, srv1.URL+"/api/v1/events/stream?topic=t", bearer(viewer))
	defer s1.Body.Close()
	tk := ticketFor(t, srv1.URL, viewer, "t")
	s2, r2 := ssetest.Open(t, ctx, srv2.URL+"/api/v1/events/stream?topic=t&ticket="+tk, http.Header{})
	defer s2.Body.Close()
	// Another token's stream is left alone.
	s3, r3 := ssetest.Open(t, ctx, srv2.URL+"/api/v1/events/stream?topic=t", bearerOf(b))
	defer s3.Body.Close()

	req, _ := http.NewRequest(http.MethodDelete, srv1.URL+"/api/v1/tokens/viewer", nil)
	req.Header = bearerOf(b)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	waitEnded(t, "bearer stream on node 1", s1.Body, r1, 10*time.Second)
	waitEnded(t, "ticket stream on node 2", s2.Body, r2, 10*time.Second)

	pub, err := svc1.Publish(ctx, "t", json.RawMessage(`1`), "test")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := r3.Next(); err != nil || m.ID != pub.Event.ID {
		t.Fatalf("admin's stream: id %d (%v), want %d", m.ID, err, pub.Event.ID)
	}
	// The ticket opens nothing any more, on either node.
	for _, srv := range []string{srv1.URL, srv2.URL} {
		if st, body, _ := openStatus(t, srv+"/api/v1/events/stream?topic=t&ticket="+tk, nil); st != http.StatusUnauthorized {
			t.Errorf("ticket of a revoked token on %s: %d %+v, want 401", srv, st, body)
		}
	}
}

func TestStream_TicketOfRevokedTokenIsRefused(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, b, svc)
	viewer := newToken(t, b, "viewer", ScopeRead)
	tk := ticketFor(t, srv.URL, viewer, "t")
	if err := b.st.RevokeToken(context.Background(), "viewer"); err != nil {
		t.Fatal(err)
	}
	st, body, _ := openStatus(t, srv.URL+"/api/v1/events/stream?topic=t&ticket="+tk, nil)
	if st != http.StatusUnauthorized || !strings.Contains(body.Error, "revoked") {
		t.Fatalf("ticket of a revoked token: %d %+v, want 401 saying revoked", st, body)
	}
}

func TestStream_TicketOpensOnlyItsTopics(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, b, svc)
	tk := ticketFor(t, srv.URL, b.token, "a")

	for _, q := range []string{"topic=b", "topic=a&topic=b"} {
		st, body, _ := openStatus(t, srv.URL+"/api/v1/events/stream?"+q+"&ticket="+tk, nil)
		if st != http.StatusForbidden || !strings.Contains(body.Error, `"b"`) {
			t.Errorf("ticket for a, stream ?%s: %d %+v, want 403 naming b", q, st, body)
		}
	}
	// Naming no topic, the ticket's topics are what the stream reads.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, r := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream?ticket="+tk, http.Header{})
	defer s.Body.Close()
	if _, err := svc.Publish(ctx, "b", json.RawMessage(`"secret"`), "test"); err != nil {
		t.Fatal(err)
	}
	pub, err := svc.Publish(ctx, "a", json.RawMessage(`"ok"`), "test")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := r.Next(); err != nil || m.ID != pub.Event.ID || m.Data.Topic != "a" {
		t.Fatalf("ticket stream without topic: %+v (%v), want only event %d of a", m, err, pub.Event.ID)
	}
	// A forged topic list breaks the signature.
	parts := strings.Split(tk, ".")
	if len(parts) == 5 {
		parts[3] = "" // every topic
		st, _, _ := openStatus(t, srv.URL+"/api/v1/events/stream?ticket="+strings.Join(parts, "."), nil)
		if st != http.StatusUnauthorized {
			t.Errorf("ticket with its topics removed: %d, want 401", st)
		}
	}
}

func TestStream_TokenOverStreamCapGets429(t *testing.T) {
	t.Parallel()
	const streamCap = 3
	b := setupDB(t)
	svc := startService(t, b, func(c *events.Config) { c.MaxStreamsPerToken = streamCap })
	srv := serveHTTP(t, b, svc)
	viewer := newToken(t, b, "viewer", ScopeRead)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := 0; i < streamCap; i++ {
		h := bearer(viewer)
		u := srv.URL + "/api/v1/events/stream"
		if i%2 == 1 { // tickets count against their token too
			h, u = http.Header{}, u+"?ticket="+ticketFor(t, srv.URL, viewer)
		}
		s, _ := ssetest.Open(t, ctx, u, h)
		defer s.Body.Close()
	}
	for _, tc := range []struct {
		name string
		url  string
		h    http.Header
	}{
		{"bearer", srv.URL + "/api/v1/events/stream", bearer(viewer)},
		{"ticket", srv.URL + "/api/v1/events/stream?ticket=" + ticketFor(t, srv.URL, viewer), nil},
	} {
		st, body, h := openStatus(t, tc.url, tc.h)
		if st != http.StatusTooManyRequests || body.Code != CodeTooManyStreams || h.Get("Retry-After") == "" {
			t.Errorf("%s stream over the cap: %d %+v Retry-After %q, want 429 %s with Retry-After",
				tc.name, st, body, h.Get("Retry-After"), CodeTooManyStreams)
		}
	}
	// Another token is not affected.
	s, _ := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream", bearerOf(b))
	s.Body.Close()
}

func TestStream_RevocationMissedByNotifyEndsStreamOnRecheck(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, func(c *events.Config) { c.TokenRecheck = 100 * time.Millisecond })
	srv := serveHTTP(t, b, svc)
	viewer := newToken(t, b, "viewer", ScopeRead)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, r := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream", bearer(viewer))
	defer s.Body.Close()
	// Revoked behind the server's back: no NOTIFY is sent.
	if _, err := b.st.Pool().Exec(ctx, `UPDATE tokens SET revoked_at = now() WHERE name = 'viewer'`); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "stream", s.Body, r, 10*time.Second)
}

func TestTicket_BadTopicsAre400(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, b, svc)
	many := url.Values{}
	for i := 0; i <= events.MaxTicketTopics; i++ {
		many.Add("topic", "t"+strconv.Itoa(i))
	}
	for _, q := range []string{"topic=%20bad", many.Encode()} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/events/tickets?"+q, nil)
		req.Header = bearerOf(b)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
			t.Errorf("ticket ?%.40s: %d %s, want 400 with a JSON error", q, resp.StatusCode, body)
		}
	}
}

// TestStream_TokenNotificationOfALiveTokenClosesNothing: every change to a
// token is announced on the tokens channel (a creation too, which can
// arrive after the new token already opened a stream): only a token found
// revoked loses its streams.
func TestStream_TokenNotificationOfALiveTokenClosesNothing(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, b, svc)
	viewer := newToken(t, b, "viewer", ScopeRead)
	doomed := newToken(t, b, "doomed", ScopeRead)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s1, r1 := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream?topic=t", bearer(viewer))
	defer s1.Body.Close()
	s2, r2 := ssetest.Open(t, ctx, srv.URL+"/api/v1/events/stream?topic=t", bearer(doomed))
	defer s2.Body.Close()

	tok, err := b.st.TokenByHash(ctx, func() []byte { h := HashToken(viewer); return h[:] }())
	if err != nil {
		t.Fatal(err)
	}
	// The viewer's token changes without being revoked (as its creation
	// does), then another token is revoked: notifications arrive in order,
	// so once the doomed stream ended the viewer's notification was handled.
	if err := b.st.Events().Notify(ctx, store.TokensChannel, strconv.FormatInt(tok.ID, 10)); err != nil {
		t.Fatal(err)
	}
	if err := b.st.RevokeToken(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, "the revoked token's stream", s2.Body, r2, 10*time.Second)

	pub, err := svc.Publish(ctx, "t", json.RawMessage(`1`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := r1.Next()
	if err != nil || m.ID != pub.Event.ID {
		t.Fatalf("the live token's stream: id %d (%v), want event %d", m.ID, err, pub.Event.ID)
	}
}
