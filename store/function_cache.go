package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/singleflight"
)

// FunctionCacheConfig configures a FunctionCache.
type FunctionCacheConfig struct {
	Logger hclog.Logger
	// OnChange, if set, is called from the listener goroutine after the
	// entry of name was invalidated (a deploy, rollback or delete committed
	// somewhere in the cluster), or with name "" when the LISTEN
	// connection was lost and again when it came back: the cache was
	// flushed and any function may have changed. It must not block.
	OnChange func(name string)
	// Notifier is the node's LISTEN connection, started by its owner after
	// every subscriber subscribed. Nil gives the cache a connection of its
	// own, started and stopped with the cache (tests, tools).
	Notifier *Notifier
	// MinBackoff and MaxBackoff bound the delay between reconnection
	// attempts of the cache's own connection (defaults 100ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// MaxMisses bounds the unknown names remembered (default
	// DefaultMaxMisses); MissTTL is how long one is (default
	// DefaultMissTTL), as a backstop: a deploy of the name drops it at once.
	MaxMisses int
	MissTTL   time.Duration
}

// Defaults of the negative caches (FunctionCacheConfig, TokenCacheConfig).
const (
	DefaultMaxMisses = 4096
	DefaultMissTTL   = time.Minute
)

// FunctionCache serves function metadata from memory. An entry is dropped
// when a change to its function is committed anywhere in the cluster: the
// cache LISTENs on FunctionsChannel over a dedicated connection. While that
// connection is down, Get reads from the database and caches nothing; on
// reconnection the whole cache is flushed, since notifications may have
// been missed. Unknown names are cached too, so that a flood of requests
// for a name that does not exist costs one query: at most MaxMisses of
// them, each for MissTTL at most, dropped by the same notifications (a
// function created after a miss is served as soon as its deploy's
// notification arrives, at once on the node that deployed it).
type FunctionCache struct {
	store  *Store
	cfg    FunctionCacheConfig
	logger hclog.Logger
	sf     singleflight.Group

	// snap is read without locks on the hot path; writers (misses,
	// invalidations) copy it under mu. Functions are few and change
	// rarely, so copying is cheap.
	mu   sync.Mutex
	snap atomic.Pointer[cacheSnapshot]

	// absent holds the names found missing, guarded by mu, checked
	// against the snapshot's generation.
	absent *missSet

	hits, misses atomic.Uint64
	own          *Notifier // the cache's own connection, when not shared
	wasUp        bool      // only touched by listener callbacks, in sequence
}

// NewFunctionCache returns a cache over s; call Start before use (until
// then, Get reads through to the database).
func NewFunctionCache(s *Store, cfg FunctionCacheConfig) *FunctionCache {
	if cfg.Logger == nil {
		cfg.Logger = s.logger
	}
	c := &FunctionCache{
		store:  s,
		cfg:    cfg,
		logger: cfg.Logger.Named("function_cache"),
		absent: newMissSet(cfg.MaxMisses, cfg.MissTTL),
	}
	c.snap.Store(&cacheSnapshot{})
	n := cfg.Notifier
	if n == nil {
		c.own = s.NewNotifier(NotifierConfig{Logger: c.logger, MinBackoff: cfg.MinBackoff, MaxBackoff: cfg.MaxBackoff})
		n = c.own
	}
	n.Subscribe(FunctionsChannel, c.onNotify, c.onState)
	return c
}

// Start opens the cache's own LISTEN connection, if it has one, and
// returns; it runs until Stop. It returns an error only if the first
// connection fails.
func (c *FunctionCache) Start(ctx context.Context) error {
	if c.own == nil {
		return nil
	}
	if err := c.own.Start(ctx); err != nil {
		return fmt.Errorf("start function cache: %w", err)
	}
	return nil
}

// Stop ends the listener and waits for it. Safe to call twice, and without
// Start.
func (c *FunctionCache) Stop() {
	if c.own != nil {
		c.own.Stop()
	}
	c.setListening(false)
}

// Get returns the function name with its current version: from memory when
// cached (no database round trip), else from the database. ErrNotFound if
// it does not exist. The returned value is shared: do not modify it.
func (c *FunctionCache) Get(ctx context.Context, name string) (*Function, error) {
	snap := c.snap.Load()
	if f, ok := snap.entries[name]; ok {
		c.hits.Add(1)
		return f, nil
	}
	gen := snap.gen
	if snap.listening && c.knownAbsent(name, gen) {
		c.hits.Add(1)
		return nil, fmt.Errorf("function %s: %w", name, ErrNotFound)
	}
	c.misses.Add(1)
	if !snap.listening {
		return c.store.GetFunction(ctx, name)
	}
	// Concurrent misses of one name share a query; keyed by generation so
	// a lookup that started before an invalidation is not joined after it.
	v, err, _ := c.sf.Do(name+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
		f, err := c.store.GetFunction(ctx, name)
		if errors.Is(err, ErrNotFound) {
			c.rememberAbsent(name, gen)
		}
		if err != nil {
			return nil, err
		}
		c.update(func(old *cacheSnapshot, next *cacheSnapshot) bool {
			if old.gen != gen || !old.listening {
				return false
			}
			next.entries = maps.Clone(old.entries)
			if next.entries == nil {
				next.entries = make(map[string]*Function)
			}
			next.entries[name] = f
			next.gen = old.gen // an addition invalidates nothing
			return true
		})
		return f, nil
	})
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			// The shared lookup died with the context of the caller
			// that led it, not ours.
			return c.store.GetFunction(ctx, name)
		}
		return nil, err
	}
	return v.(*Function), nil
}

// Invalidate drops name's entry, found or missing (as a notification
// would).
func (c *FunctionCache) Invalidate(name string) {
	c.update(func(old, next *cacheSnapshot) bool {
		next.entries = maps.Clone(old.entries)
		delete(next.entries, name)
		c.absent.forget(name)
		return true
	})
}

// knownAbsent reports whether name was found missing in generation gen
// (no invalidation since) and not too long ago.
func (c *FunctionCache) knownAbsent(name string, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap.Load().gen == gen && c.absent.has(name, time.Now())
}

// rememberAbsent records that name was missing when read in generation
// gen, unless an invalidation came since.
func (c *FunctionCache) rememberAbsent(name string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.snap.Load(); old.gen == gen && old.listening {
		c.absent.add(name, time.Now())
	}
}

// Stats returns the number of Gets served from memory and from the
// database.
func (c *FunctionCache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Listening reports whether the LISTEN connection is up (and so whether Get
// caches).
func (c *FunctionCache) Listening() bool { return c.snap.Load().listening }

func (c *FunctionCache) setListening(on bool) {
	c.update(func(_, next *cacheSnapshot) bool {
		next.listening = on
		c.absent.clear()
		return true
	})
}

// cacheSnapshot is one immutable state of the cache.
type cacheSnapshot struct {
	entries   map[string]*Function
	gen       uint64 // bumped on every invalidation
	listening bool
}

// update replaces the snapshot by the one fill makes (if it returns true).
// next starts empty, with listening copied and gen bumped.
func (c *FunctionCache) update(fill func(old, next *cacheSnapshot) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	next := &cacheSnapshot{gen: old.gen + 1, listening: old.listening}
	if fill(old, next) {
		c.snap.Store(next)
	}
}

func (c *FunctionCache) onNotify(name string) {
	c.Invalidate(name)
	c.notify(name)
}

// onState flushes on every change: while the connection is down nothing is
// cached, and after it comes back notifications may have been missed. Both
// are told to OnChange as "" (any function may have changed).
func (c *FunctionCache) onState(up bool) {
	c.setListening(up)
	if c.wasUp { // the first connection is not news
		c.notify("")
	}
	c.wasUp = true
}

func (c *FunctionCache) notify(name string) {
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(name)
	}
}
