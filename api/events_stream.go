package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/store"
)

// replayBatch is how many events a replay reads per query.
const replayBatch = 500

// StreamEvent is the data of one SSE message.
type StreamEvent struct {
	ID          int64           `json:"id"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	PublishedAt time.Time       `json:"published_at"`
}

// handleStream serves GET /api/v1/events/stream: Server-Sent Events, each
// with id: = its event-log id. With Last-Event-ID (header, or
// ?last_event_id=) it first replays what the client missed from the event
// log, then goes live, with no gap and no duplicate: it subscribes to the
// hub first (position From), replays (last, From] from the log, then takes
// live events above From.
//
// The stream belongs to token tokenID: it ends when the token is revoked
// (on every node), and a token holds a bounded number of streams. With a
// ticket, only the ticket's topics can be read (its topics when the
// request names none).
func (a *API) stream(w http.ResponseWriter, r *http.Request, tokenID int64, ticket *events.Ticket) error {
	q := r.URL.Query()
	topics := q["topic"]
	for _, t := range topics {
		if err := events.ValidateTopic(t); err != nil {
			return err
		}
		if ticket != nil && !ticket.Covers(t) {
			return errorf(http.StatusForbidden, CodeForbidden,
				"this ticket does not open topic %q: ask for a ticket with POST /api/v1/events/tickets?topic=%s", t, t)
		}
	}
	if ticket != nil && len(topics) == 0 {
		topics = ticket.Topics
	}
	lastStr := r.Header.Get("Last-Event-ID")
	if v := q.Get("last_event_id"); v != "" {
		lastStr = v
	}
	var last int64 = -1
	if lastStr != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(lastStr), 10, 64)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, CodeBadRequest, "Last-Event-ID %q is not valid: want an event id", truncate(lastStr, 40))
		}
		last = n
	}

	sub, err := a.events.Subscribe(r.Context(), tokenID, topics)
	if err != nil {
		return err
	}
	defer a.events.Unsubscribe(sub)

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream has no write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 16<<10)
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	if _, err := fmt.Fprintf(bw, "retry: 1000\n: connected at event %d\n\n", sub.From); err != nil {
		return nil
	}
	if err := flush(); err != nil {
		return nil
	}

	ctx := r.Context()
	cursor := sub.From
	if last >= 0 {
		cursor = last
		for cursor < sub.From {
			evs, err := a.evst.EventsAfter(ctx, cursor, sub.From, topics, replayBatch)
			if err != nil {
				a.log.Warn("stream replay failed", "after", cursor, "error", err)
				return nil // the client reconnects and resumes
			}
			for _, ev := range evs {
				if err := writeEvent(bw, ev); err != nil {
					return nil
				}
				cursor = ev.ID
			}
			if err := flush(); err != nil {
				return nil
			}
			if len(evs) < replayBatch {
				break
			}
		}
	}

	heartbeat := time.NewTicker(a.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.deps.Stopping:
			return nil
		case <-sub.Dropped():
			// Too slow (or the server stops): end the response; the
			// client resumes with Last-Event-ID. A revoked token's
			// client is told why; its reconnection gets a 401.
			if errors.Is(sub.Err(), events.ErrRevoked) {
				_, _ = bw.WriteString(": token revoked\n\n")
			}
			_ = flush()
			return nil
		case ev := <-sub.C():
			if ev.ID <= cursor {
				continue
			}
			if err := writeEvent(bw, ev); err != nil {
				return nil
			}
			cursor = ev.ID
			// Drain what is already buffered before flushing.
			for drained := false; !drained; {
				select {
				case ev := <-sub.C():
					if ev.ID <= cursor {
						continue
					}
					if err := writeEvent(bw, ev); err != nil {
						return nil
					}
					cursor = ev.ID
				default:
					drained = true
				}
			}
			if err := flush(); err != nil {
				return nil
			}
		case <-heartbeat.C:
			if _, err := bw.WriteString(": heartbeat\n\n"); err != nil {
				return nil
			}
			if err := flush(); err != nil {
				return nil
			}
		}
	}
}

func writeEvent(bw *bufio.Writer, ev store.Event) error {
	data, err := json.Marshal(StreamEvent{ID: ev.ID, Topic: ev.Topic, Payload: ev.Payload, PublishedAt: ev.PublishedAt})
	if err != nil {
		return err
	}
	// JSON from encoding/json has no raw newlines, so one data: line.
	_, err = fmt.Fprintf(bw, "id: %d\ndata: %s\n\n", ev.ID, data)
	return err
}
