// Package ssetest reads PiCloud's event stream (Server-Sent Events) in
// tests, as a browser's EventSource would.
package ssetest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Message is one parsed Server-Sent Events message of the event stream.
type Message struct {
	ID   int64
	Data Event
}

// Event is the data of one message.
type Event struct {
	ID          int64           `json:"id"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	PublishedAt time.Time       `json:"published_at"`
}

// Reader parses a text/event-stream body, as a browser's EventSource
// would: lines, blank-line separated, ':' comments.
type Reader struct {
	br       *bufio.Reader
	comments []string
}

// NewReader reads the stream r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReader(r)} }

// Next returns the next message (comments are collected, not returned).
func (s *Reader) Next() (Message, error) {
	var msg Message
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

// WaitComment reads until a comment starting with prefix arrives.
func (s *Reader) WaitComment(prefix string) error {
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

// Open opens the stream over a real HTTP connection on 127.0.0.1 and
// waits until it is connected (subscribed).
func Open(t *testing.T, ctx context.Context, url string, header http.Header) (*http.Response, *Reader) {
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
	r := NewReader(resp.Body)
	if err := r.WaitComment("connected"); err != nil {
		t.Fatalf("wait for connected: %v", err)
	}
	return resp, r
}
