package events

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseMessage is one parsed Server-Sent Events message.
type sseMessage struct {
	ID   int64
	Data StreamEvent
}

// sseReader parses a text/event-stream body, as a browser's EventSource
// would: lines, blank-line separated, ':' comments.
type sseReader struct {
	br       *bufio.Reader
	comments []string
}

func newSSEReader(r io.Reader) *sseReader { return &sseReader{br: bufio.NewReader(r)} }

// next returns the next message (comments are collected, not returned).
func (s *sseReader) next() (sseMessage, error) {
	var msg sseMessage
	var data strings.Builder
	hasID := false
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return msg, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if !hasID && data.Len() == 0 {
				continue
			}
			if err := json.Unmarshal([]byte(data.String()), &msg.Data); err != nil {
				return msg, fmt.Errorf("data %q: %w", data.String(), err)
			}
			return msg, nil
		case strings.HasPrefix(line, ":"):
			s.comments = append(s.comments, strings.TrimSpace(line[1:]))
		case strings.HasPrefix(line, "id: "):
			id, err := strconv.ParseInt(line[4:], 10, 64)
			if err != nil {
				return msg, fmt.Errorf("id line %q: %w", line, err)
			}
			msg.ID, hasID = id, true
		case strings.HasPrefix(line, "data: "):
			data.WriteString(line[6:])
		case strings.HasPrefix(line, "retry: "):
		default:
			return msg, fmt.Errorf("unexpected line %q", line)
		}
	}
}

// waitComment reads until a comment starting with prefix arrives.
func (s *sseReader) waitComment(prefix string) error {
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, ": "+prefix) {
			return nil
		}
	}
}

// openStream opens the stream over a real HTTP connection on 127.0.0.1 and
// waits until it is connected (subscribed).
func openStream(t *testing.T, ctx context.Context, url string, header http.Header) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("open stream: %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	r := newSSEReader(resp.Body)
	if err := r.waitComment("connected"); err != nil {
		t.Fatalf("wait for connected: %v", err)
	}
	return resp, r
}

func bearer() http.Header {
	return http.Header{"Authorization": {"Bearer " + testToken}}
}

func TestStream_ResumeAfterDropHasNoGapNoDuplicate(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, svc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	resp, r := openStream(t, ctx, srv.URL+"/api/v1/events/stream?topic=a", bearer())
	var want []int64
	for i := 0; i < 100; i++ {
		pub, err := svc.Publish(ctx, "a", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), "test")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, pub.Event.ID)
		// Events of another topic in between must not show up.
		if _, err := svc.Publish(ctx, "b", json.RawMessage(`{}`), "test"); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		m, err := r.next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.ID != want[i] || m.Data.ID != want[i] || m.Data.Topic != "a" {
			t.Fatalf("message %d: id %d topic %q, want id %d on a", i, m.ID, m.Data.Topic, want[i])
		}
		if p := string(m.Data.Payload); p != fmt.Sprintf(`{"i": %d}`, i) && p != fmt.Sprintf(`{"i":%d}`, i) {
			t.Fatalf("message %d: payload %s", i, p)
		}
	}
	resp.Body.Close() // drop the connection after 50

	h := bearer()
	h.Set("Last-Event-ID", strconv.FormatInt(want[49], 10))
	resp2, r2 := openStream(t, ctx, srv.URL+"/api/v1/events/stream?topic=a", h)
	defer resp2.Body.Close()
	for i := 50; i < 100; i++ {
		m, err := r2.next()
		if err != nil {
			t.Fatalf("message %d after reconnect: %v", i, err)
		}
		if m.ID != want[i] {
			t.Fatalf("message %d after reconnect: id %d, want %d", i, m.ID, want[i])
		}
	}
	// Nothing else was pending: the next message is a new event.
	pub, err := svc.Publish(ctx, "a", json.RawMessage(`"sentinel"`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := r2.next()
	if err != nil || m.ID != pub.Event.ID {
		t.Fatalf("after the replayed 50: id %d (%v), want the new event %d", m.ID, err, pub.Event.ID)
	}
}

func TestStream_LastEventIDQueryReplaysFromLog(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, func(c *Config) { c.Heartbeat = 20 * time.Millisecond })
	srv := serveHTTP(t, svc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var ids []int64
	for i := 0; i < 3; i++ {
		pub, err := svc.Publish(ctx, "x", json.RawMessage(`1`), "test")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pub.Event.ID)
	}
	resp, r := openStream(t, ctx, srv.URL+"/api/v1/events/stream?last_event_id=0", bearer())
	defer resp.Body.Close()
	for i := range ids {
		m, err := r.next()
		if err != nil || m.ID != ids[i] {
			t.Fatalf("replayed %d: id %d (%v), want %d", i, m.ID, err, ids[i])
		}
	}
	if err := r.waitComment("heartbeat"); err != nil {
		t.Fatalf("no heartbeat: %v", err)
	}
}

func TestStream_BadRequests(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, svc)
	for _, tc := range []struct {
		name, url string
		header    http.Header
		status    int
	}{
		{"no token", "/api/v1/events/stream", nil, 401},
		{"bad ticket", "/api/v1/events/stream?ticket=st1.99999999999.AAAA", nil, 401},
		{"bad topic", "/api/v1/events/stream?topic=%20bad", bearer(), 400},
		{"bad last id", "/api/v1/events/stream?last_event_id=x", bearer(), 400},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.url, nil)
		if tc.header != nil {
			req.Header = tc.header
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %d %s, want %d with a JSON error", tc.name, resp.StatusCode, body, tc.status)
		}
	}
}

func TestStream_TicketWorksOnEveryNode(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc1 := startService(t, b, nil)
	svc2 := startService(t, b, nil)
	srv1, srv2 := serveHTTP(t, svc1), serveHTTP(t, svc2)

	req, _ := http.NewRequest(http.MethodPost, srv1.URL+"/api/v1/events/tickets", nil)
	req.Header = bearer()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tk Ticket
	err = json.NewDecoder(resp.Body).Decode(&tk)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || tk.Ticket == "" {
		t.Fatalf("ticket: %d %+v %v", resp.StatusCode, tk, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// Issued by node 1, accepted by node 2, without a bearer token.
	s, r := openStream(t, ctx, srv2.URL+"/api/v1/events/stream?topic=t&ticket="+tk.Ticket, http.Header{})
	defer s.Body.Close()
	pub, err := svc1.Publish(ctx, "t", json.RawMessage(`{"via":"node1"}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.next()
	if err != nil || m.ID != pub.Event.ID {
		t.Fatalf("node 2 stream got id %d (%v), want %d published on node 1", m.ID, err, pub.Event.ID)
	}
	// A tampered ticket is refused.
	bad := tk.Ticket[:len(tk.Ticket)-2] + "xx"
	resp, err = http.Get(srv2.URL + "/api/v1/events/stream?ticket=" + bad)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered ticket: %d, want 401", resp.StatusCode)
	}
}

func TestHub_SlowClientDroppedPositionIntact(t *testing.T) {
	t.Parallel()
	b := setupDB(t)
	svc := startService(t, b, func(c *Config) { c.ClientBuffer = 4 })
	ctx := context.Background()
	sub := svc.Hub().Subscribe(nil)
	defer svc.Hub().Unsubscribe(sub)
	for i := 0; i < 10; i++ {
		if _, err := svc.Publish(ctx, "slow", json.RawMessage(`1`), "test"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-sub.Dropped():
	case <-time.After(waitTimeout):
		t.Fatal("slow subscription was not dropped")
	}
	// What it got before the drop is a gap-free prefix: a client resumes
	// from the last one with Last-Event-ID.
	prev := sub.From
	for len(sub.C()) > 0 {
		ev := <-sub.C()
		if ev.ID != prev+1 {
			t.Fatalf("buffered id %d after %d", ev.ID, prev)
		}
		prev = ev.ID
	}
	if prev-sub.From != 4 {
		t.Fatalf("buffered %d events, want the buffer size 4", prev-sub.From)
	}
	// Other clients are unaffected.
	if svc.Hub().Clients() != 0 {
		t.Errorf("clients = %d after drop", svc.Hub().Clients())
	}
}

func TestStream_Curl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	b := setupDB(t)
	svc := startService(t, b, nil)
	srv := serveHTTP(t, svc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var ids []int64
	for i := 0; i < 3; i++ {
		pub, err := svc.Publish(ctx, "c", json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), "test")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pub.Event.ID)
	}
	cmd := exec.CommandContext(ctx, curl, "-sSN", "-H", "Authorization: Bearer "+testToken,
		"-H", fmt.Sprintf("Last-Event-ID: %d", ids[0]), srv.URL+"/api/v1/events/stream?topic=c")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	r := newSSEReader(out)
	for _, want := range ids[1:] {
		m, err := r.next()
		if err != nil || m.ID != want {
			t.Fatalf("curl read id %d (%v), want %d", m.ID, err, want)
		}
	}
	pub, err := svc.Publish(ctx, "c", json.RawMessage(`"live"`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.next()
	if err != nil || m.ID != pub.Event.ID || string(m.Data.Payload) != `"live"` {
		t.Fatalf("curl live event: %+v (%v)", m, err)
	}
}
