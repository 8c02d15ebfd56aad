package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/picloud/picloud/store"
)

// Errors of stream tickets and stream subscriptions.
var (
	// ErrBadTicket is an invalid, forged or expired stream ticket.
	ErrBadTicket = errors.New("invalid or expired ticket")
	// ErrRevoked is a stream (or a ticket) of a token that was revoked.
	ErrRevoked = errors.New("token revoked")
	// ErrTooManyStreams is a token at its cap of open streams on a node.
	ErrTooManyStreams = errors.New("too many open streams for this token")
)

// MaxTicketTopics bounds the topics one ticket names.
const MaxTicketTopics = 16

// ticketPrefix versions the ticket format:
// "st2.<token id>.<unix expiry>.<topics>.<mac>", topics being the
// comma-joined sorted topic names in unpadded base64url ("" for every
// topic). "st1" tickets (an expiry only) are no longer accepted.
const ticketPrefix = "st2"

// Ticket is what a stream ticket grants: reading the streams of Topics
// (every topic when empty) on behalf of token TokenID, until ExpiresAt.
// It is bound to the token: once the token is revoked, the ticket opens
// nothing and the streams it opened are closed.
type Ticket struct {
	TokenID   int64
	Topics    []string
	ExpiresAt time.Time
}

// Covers reports whether the ticket lets its holder read topic.
func (t Ticket) Covers(topic string) bool {
	return len(t.Topics) == 0 || slices.Contains(t.Topics, topic)
}

// ticketSigner issues and checks stream tickets: short-lived, HMAC-SHA256
// signed with a key kept in app_secrets (shared by every node, surviving
// restarts). A ticket grants reading the stream, nothing else.
type ticketSigner struct {
	st  *store.EventStore
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	key []byte
}

func (t *ticketSigner) getKey(ctx context.Context) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.key != nil {
		return t.key, nil
	}
	k, err := t.st.TicketKey(ctx)
	if err != nil {
		return nil, err
	}
	t.key = k
	return k, nil
}

func sign(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Issue returns a new ticket for token tokenID and topics (every topic
// when empty), and its expiry.
func (t *ticketSigner) Issue(ctx context.Context, tokenID int64, topics []string) (string, time.Time, error) {
	if tokenID <= 0 {
		return "", time.Time{}, fmt.Errorf("issue ticket: no token: %w", ErrInvalid)
	}
	if len(topics) > MaxTicketTopics {
		return "", time.Time{}, fmt.Errorf("a ticket names at most %d topics, not %d: %w", MaxTicketTopics, len(topics), ErrInvalid)
	}
	for _, tp := range topics {
		if err := ValidateTopic(tp); err != nil {
			return "", time.Time{}, err
		}
	}
	topics = slices.Compact(slices.Sorted(slices.Values(topics)))
	key, err := t.getKey(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue ticket: %w", err)
	}
	exp := t.now().Add(t.ttl).Truncate(time.Second)
	msg := ticketPrefix + "." + strconv.FormatInt(tokenID, 10) + "." + strconv.FormatInt(exp.Unix(), 10) +
		"." + base64.RawURLEncoding.EncodeToString([]byte(strings.Join(topics, ",")))
	return msg + "." + sign(key, msg), exp, nil
}

// Check verifies a ticket's signature and expiry and returns what it
// grants. It does not look at the token: Service.CheckTicket does.
func (t *ticketSigner) Check(ctx context.Context, ticket string) (Ticket, error) {
	parts := strings.Split(ticket, ".")
	if len(parts) != 5 || parts[0] != ticketPrefix {
		return Ticket{}, ErrBadTicket
	}
	tokenID, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || tokenID <= 0 {
		return Ticket{}, ErrBadTicket
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Ticket{}, ErrBadTicket
	}
	key, err := t.getKey(ctx)
	if err != nil {
		return Ticket{}, fmt.Errorf("check ticket: %w", err)
	}
	want := sign(key, strings.Join(parts[:4], "."))
	if !hmac.Equal([]byte(want), []byte(parts[4])) {
		return Ticket{}, ErrBadTicket
	}
	if t.now().Unix() > exp {
		return Ticket{}, ErrBadTicket
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		return Ticket{}, ErrBadTicket
	}
	out := Ticket{TokenID: tokenID, ExpiresAt: time.Unix(exp, 0)}
	if len(raw) > 0 {
		out.Topics = strings.Split(string(raw), ",")
	}
	return out, nil
}
