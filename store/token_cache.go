package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TokenCacheConfig configures a TokenCache.
type TokenCacheConfig struct {
	Logger hclog.Logger
	// TTL bounds how long a token is served from memory before it is read
	// (and its last_used_at recorded) again; default 1 minute. Revocations
	// do not wait for it: they are announced on TokensChannel.
	TTL time.Duration
	// Notifier is the node's LISTEN connection (see FunctionCacheConfig);
	// nil gives the cache one of its own.
	Notifier *Notifier
	// MinBackoff and MaxBackoff bound the reconnection delay of the
	// cache's own connection.
	MinBackoff, MaxBackoff time.Duration
	// MaxMisses bounds the unknown hashes remembered (default
	// DefaultMaxMisses), each for MissTTL (default TTL).
	MaxMisses int
	MissTTL   time.Duration
}

// TokenCache serves TokenByHash from memory, so authenticated requests
// (private functions, the control plane) need no database round trip while
// warm. A revocation anywhere in the cluster drops the token at once
// (LISTEN on TokensChannel); while that connection is down nothing is
// cached, and it is flushed when it comes back. Unknown or revoked hashes
// are cached too (at most MaxMisses, each for MissTTL), so a flood of bad
// tokens costs one query per distinct token; any notification on
// TokensChannel (a token created or revoked anywhere) drops them all.
type TokenCache struct {
	store *Store
	ttl   time.Duration
	own   *Notifier // the cache's own connection, when not shared

	mu        sync.RWMutex
	entries   map[string]tokenEntry // by string(secretHash)
	absent    *missSet              // hashes found missing, by string(secretHash)
	gen       uint64
	listening bool
}

type tokenEntry struct {
	token   *Token
	expires time.Time
}

// NewTokenCache returns a cache over s; until Start, Get reads through.
func NewTokenCache(s *Store, cfg TokenCacheConfig) *TokenCache {
	if cfg.Logger == nil {
		cfg.Logger = s.logger
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Minute
	}
	if cfg.MissTTL <= 0 {
		cfg.MissTTL = cfg.TTL
	}
	c := &TokenCache{store: s, ttl: cfg.TTL, entries: make(map[string]tokenEntry),
		absent: newMissSet(cfg.MaxMisses, cfg.MissTTL)}
	n := cfg.Notifier
	if n == nil {
		c.own = s.NewNotifier(NotifierConfig{Logger: cfg.Logger.Named("token_cache"), MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff})
		n = c.own
	}
	n.Subscribe(TokensChannel, c.onNotify, c.onState)
	return c
}

// Start opens the cache's own LISTEN connection, if it has one, and
// returns. It returns an error only if the first connection fails.
func (c *TokenCache) Start(ctx context.Context) error {
	if c.own == nil {
		return nil
	}
	if err := c.own.Start(ctx); err != nil {
		return fmt.Errorf("start token cache: %w", err)
	}
	return nil
}

// Stop ends the listener; safe twice and without Start.
func (c *TokenCache) Stop() {
	if c.own != nil {
		c.own.Stop()
	}
	c.onState(false)
}

// Get returns the live token whose secret hashes to secretHash, as
// Store.TokenByHash does. ErrNotFound if there is none or it is revoked.
// The returned value is shared: do not modify it.
func (c *TokenCache) Get(ctx context.Context, secretHash []byte) (*Token, error) {
	key := string(secretHash)
	now := time.Now()
	c.mu.RLock()
	e, ok := c.entries[key]
	absent := !ok && c.listening && c.absent.has(key, now)
	gen, listening := c.gen, c.listening
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.token, nil
	}
	if absent {
		return nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	t, err := c.store.TokenByHash(ctx, secretHash)
	if errors.Is(err, ErrNotFound) && listening {
		c.mu.Lock()
		if c.gen == gen && c.listening {
			c.absent.add(key, now)
		}
		c.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	if listening {
		c.mu.Lock()
		if c.gen == gen && c.listening {
			c.entries[key] = tokenEntry{token: t, expires: now.Add(c.ttl)}
		}
		c.mu.Unlock()
	}
	return t, nil
}

func (c *TokenCache) onNotify(payload string) {
	id, err := strconv.ParseInt(payload, 10, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.absent.clear() // a token was created (or revoked): any miss may be stale
	for k, e := range c.entries {
		if err != nil || e.token.ID == id {
			delete(c.entries, k)
		}
	}
}

func (c *TokenCache) onState(up bool) {
	c.mu.Lock()
	c.listening = up
	clear(c.entries)
	c.absent.clear()
	c.gen++
	c.mu.Unlock()
}
