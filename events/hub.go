package events

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/store"
)

// hubBatch is how many events the hub reads from the log per query.
const hubBatch = 500

// Hub fans committed events out to this node's stream clients. The
// listener tells it the newest committed id (from picloud_events
// notifications); it then reads the new rows from the event log by id
// range (notification payloads are never trusted to carry events) and
// hands each to the subscribers of its topic. With no subscriber it reads
// nothing.
type Hub struct {
	st  *store.EventStore
	log hclog.Logger
	buf int

	target atomic.Int64  // newest id known committed
	wake   chan struct{} // capacity 1

	mu     sync.Mutex
	last   int64 // every event <= last has been dispatched (or skipped)
	subs   map[*Subscription]struct{}
	closed bool
}

// Subscription is one stream client's feed.
type Subscription struct {
	topics map[string]bool // nil: every topic
	ch     chan store.Event
	// From is the hub's position when the subscription began: events
	// above it arrive on C, events up to it are replayed from the log.
	From int64
	// token is the id of the token the stream was opened with (0: none).
	token  int64
	done   chan struct{}
	once   sync.Once
	reason error // why it was dropped; set before done closes
}

// C delivers events with id > From, in id order.
func (s *Subscription) C() <-chan store.Event { return s.ch }

// Dropped is closed when the hub dropped the subscription (its buffer was
// full, or the hub stopped).
func (s *Subscription) Dropped() <-chan struct{} { return s.done }

// Err says why the subscription was dropped, once Dropped is closed:
// ErrRevoked when its token was revoked, nil otherwise (too slow, or the
// server stops).
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.reason
	default:
		return nil
	}
}

func (s *Subscription) drop() { s.dropWith(nil) }

func (s *Subscription) dropWith(reason error) {
	s.once.Do(func() { s.reason = reason; close(s.done) })
}

func (s *Subscription) wants(topic string) bool { return s.topics == nil || s.topics[topic] }

func newHub(st *store.EventStore, log hclog.Logger, buf int) *Hub {
	return &Hub{st: st, log: log, buf: buf, wake: make(chan struct{}, 1), subs: make(map[*Subscription]struct{})}
}

// init positions the hub at the newest committed event. The listener must
// already be listening, so no later event is missed.
func (h *Hub) init(ctx context.Context) error {
	last, err := h.st.LastEventID(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.last = max(h.last, last)
	h.mu.Unlock()
	h.advance(last)
	return nil
}

// advance records that every event up to id is committed and wakes the hub.
func (h *Hub) advance(id int64) {
	for {
		cur := h.target.Load()
		if id <= cur || h.target.CompareAndSwap(cur, id) {
			break
		}
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Subscribe registers a client for topics (empty: every topic), bound to
// no token.
func (h *Hub) Subscribe(topics []string) *Subscription {
	sub, _ := h.SubscribeToken(0, topics, 0)
	return sub
}

// SubscribeToken registers a client of token tokenID for topics (empty:
// every topic). With perToken > 0 a token may hold at most perToken
// subscriptions on this hub: beyond, ErrTooManyStreams. RevokeToken drops
// the token's subscriptions.
func (h *Hub) SubscribeToken(tokenID int64, topics []string, perToken int) (*Subscription, error) {
	sub := &Subscription{ch: make(chan store.Event, h.buf), done: make(chan struct{}), token: tokenID}
	if len(topics) > 0 {
		sub.topics = make(map[string]bool, len(topics))
		for _, t := range topics {
			sub.topics[t] = true
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	sub.From = h.last
	if h.closed {
		sub.drop()
		return sub, nil
	}
	if tokenID != 0 && perToken > 0 {
		n := 0
		for s := range h.subs {
			if s.token == tokenID {
				n++
			}
		}
		if n >= perToken {
			return nil, fmt.Errorf("%w: %d open on this server, the limit is %d", ErrTooManyStreams, n, perToken)
		}
	}
	h.subs[sub] = struct{}{}
	return sub, nil
}

// RevokeToken drops every subscription of token tokenID, with ErrRevoked.
func (h *Hub) RevokeToken(tokenID int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for sub := range h.subs {
		if sub.token == tokenID {
			delete(h.subs, sub)
			sub.dropWith(ErrRevoked)
			n++
		}
	}
	return n
}

// hasToken says whether token tokenID has an open subscription.
func (h *Hub) hasToken(tokenID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if sub.token == tokenID {
			return true
		}
	}
	return false
}

// tokens returns the ids of the tokens with open subscriptions.
func (h *Hub) tokens() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[int64]bool)
	var out []int64
	for sub := range h.subs {
		if sub.token != 0 && !seen[sub.token] {
			seen[sub.token] = true
			out = append(out, sub.token)
		}
	}
	return out
}

// Unsubscribe removes a client.
func (h *Hub) Unsubscribe(sub *Subscription) {
	h.mu.Lock()
	delete(h.subs, sub)
	h.mu.Unlock()
	sub.drop()
}

// Clients returns the number of connected stream clients.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for sub := range h.subs {
		sub.drop()
		delete(h.subs, sub)
	}
}

// run dispatches new events until ctx ends.
func (h *Hub) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		}
		h.catchUp(ctx)
	}
}

// catchUp dispatches every event up to the target.
func (h *Hub) catchUp(ctx context.Context) {
	target := h.target.Load()
	for {
		h.mu.Lock()
		last, nsubs := h.last, len(h.subs)
		if last >= target {
			h.mu.Unlock()
			return
		}
		if nsubs == 0 {
			// Nobody listens: skip the reading, keep the position.
			h.last = target
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()

		evs, err := h.st.EventsAfter(ctx, last, target, nil, hubBatch)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("read new events", "after", last, "error", err)
				// Retry on the next notification; keep the position.
				select {
				case h.wake <- struct{}{}:
				default:
				}
			}
			return
		}
		h.mu.Lock()
		if h.last != last { // cannot happen (one dispatcher), but be safe
			h.mu.Unlock()
			continue
		}
		for _, ev := range evs {
			for sub := range h.subs {
				if !sub.wants(ev.Topic) || ev.ID <= sub.From {
					continue
				}
				select {
				case sub.ch <- ev:
				default:
					h.log.Debug("stream client too slow: dropped", "event_id", ev.ID)
					delete(h.subs, sub)
					sub.drop()
				}
			}
		}
		if len(evs) < hubBatch {
			h.last = target
		} else {
			h.last = evs[len(evs)-1].ID
		}
		h.mu.Unlock()
	}
}
