package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/picloud/picloud/store"
)

// ErrBadTicket is an invalid, forged or expired stream ticket.
var ErrBadTicket = errors.New("invalid or expired ticket")

// ticketPrefix versions the ticket format: "st1.<unix expiry>.<mac>".
const ticketPrefix = "st1"

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

// Issue returns a new ticket and its expiry.
func (t *ticketSigner) Issue(ctx context.Context) (string, time.Time, error) {
	key, err := t.getKey(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue ticket: %w", err)
	}
	exp := t.now().Add(t.ttl).Truncate(time.Second)
	msg := ticketPrefix + "." + strconv.FormatInt(exp.Unix(), 10)
	return msg + "." + sign(key, msg), exp, nil
}

// Check verifies a ticket's signature and expiry.
func (t *ticketSigner) Check(ctx context.Context, ticket string) error {
	parts := strings.Split(ticket, ".")
	if len(parts) != 3 || parts[0] != ticketPrefix {
		return ErrBadTicket
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return ErrBadTicket
	}
	key, err := t.getKey(ctx)
	if err != nil {
		return fmt.Errorf("check ticket: %w", err)
	}
	want := sign(key, parts[0]+"."+parts[1])
	if !hmac.Equal([]byte(want), []byte(parts[2])) {
		return ErrBadTicket
	}
	if t.now().Unix() > exp {
		return ErrBadTicket
	}
	return nil
}
