package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/picloud/picloud/store"
)

// InvocationFeed tells the dashboard's live tails that invocation records
// were written. Feed it the notifications of store.InvocationsChannel
// (Notify) and the state of the node's LISTEN connection (State); each
// open tail then reads what is new for its function, one query per wake.
type InvocationFeed struct {
	mu   sync.Mutex
	subs map[*feedSub]struct{}
}

type feedSub struct {
	function string // "" for every function
	wake     chan struct{}
}

// NewInvocationFeed returns an empty feed.
func NewInvocationFeed() *InvocationFeed {
	return &InvocationFeed{subs: map[*feedSub]struct{}{}}
}

// Notify wakes the tails of the functions in payload (one per line; "*"
// for any).
func (f *InvocationFeed) Notify(payload string) {
	names := strings.Split(payload, "\n")
	any := payload == "*"
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if any || s.function == "" || contains(names, s.function) {
			s.poke()
		}
	}
}

// State wakes every tail when the LISTEN connection comes back: they may
// have missed notifications while it was down.
func (f *InvocationFeed) State(up bool) {
	if !up {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.poke()
	}
}

// Tails is how many tails are open on this node.
func (f *InvocationFeed) Tails() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *InvocationFeed) subscribe(function string) (*feedSub, func()) {
	s := &feedSub{function: function, wake: make(chan struct{}, 1)}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	return s, func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
	}
}

func (s *feedSub) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

const (
	// maxTails bounds the live tails one node serves.
	maxTails = 200
	// tailBatch is how many records one wake reads at most per query.
	tailBatch = 100
	// tailCheck is how often an idle tail sends a comment and checks its
	// session is alive (signed out, expired or revoked ends it).
	tailCheck = 15 * time.Second
)

// tail is GET /ui/tail?function=NAME: Server-Sent Events, one per new
// invocation record of the function (every function without one), with
// its log lines; id: is the invocation id, and Last-Event-ID (or
// ?last_event_id=) resumes after it. Nothing polls: the node's LISTEN
// connection wakes the stream when records of its function are written
// (on any node), and each wake costs one query (up to 100 records).
// Records appear once the batched writer has written them, in id order as
// seen at each wake.
func (u *uiHandler) tail(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	if u.feed == nil {
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "the live tail is not available on this node")
	}
	q := r.URL.Query()
	fn := q.Get("function")
	if fn != "" {
		if err := validName("function name", fn); err != nil {
			return err
		}
	}
	cursor := r.Header.Get("Last-Event-ID")
	if v := q.Get("last_event_id"); v != "" {
		cursor = v
	}
	if cursor != "" {
		if _, err := uuid.Parse(cursor); err != nil {
			return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "last_event_id",
				Message: "Last-Event-ID is not an invocation id: resume with the id of the last record seen"}
		}
	} else {
		cursor = store.InvocationIDAt(u.now())
	}
	if u.feed.Tails() >= maxTails {
		return errorf(http.StatusTooManyRequests, CodeTooManyStreams, "too many live tails on this node: close one and retry")
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return internalError(errors.New("live tail: the response cannot be flushed"))
	}
	sub, unsubscribe := u.feed.subscribe(fn)
	defer unsubscribe()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": tail of "+fnOrAll(fn)+"\n\n")
	flusher.Flush()
	ctx := r.Context()
	check := time.NewTicker(tailCheck)
	defer check.Stop()
	sub.poke() // catch up once: records written since the cursor
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-u.api.deps.Stopping:
			return nil
		case <-check.C:
			if _, _, err := u.session(r); err != nil {
				_, _ = fmt.Fprint(w, "event: end\ndata: {\"error\":\"session ended\"}\n\n")
				flusher.Flush()
				return nil
			}
			_, _ = fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-sub.wake:
			for {
				invs, err := u.api.deps.Store.ListInvocations(ctx, store.InvocationFilter{Function: fn, After: cursor, Limit: tailBatch})
				if err != nil {
					if ctx.Err() == nil {
						u.api.log.Warn("live tail: read invocations", "function", fn, "error", err)
					}
					break
				}
				for i := range invs {
					v := invocationView(&invs[i], true)
					v.Result = nil
					b, err := json.Marshal(v)
					if err != nil {
						continue
					}
					_, _ = fmt.Fprintf(w, "id: %s\ndata: %s\n\n", invs[i].ID, b)
					cursor = invs[i].ID
				}
				flusher.Flush()
				if len(invs) < tailBatch {
					break
				}
			}
		}
	}
}

func fnOrAll(fn string) string {
	if fn == "" {
		return "every function"
	}
	return fn
}
