package protocol

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemoryHost is an in-memory Host for tests: key-value data and secrets in
// maps, per function, lost when the process ends. It is safe for concurrent
// use. The zero value is not usable; call NewMemoryHost.
type MemoryHost struct {
	// HTTP, if set, serves HTTPRequest (tests set it to an
	// outbound.Client's HTTPRequest); nil refuses every request.
	HTTP func(ctx context.Context, function string, req *HTTPRequest) (*HTTPResponse, error)

	mu      sync.Mutex
	now     func() time.Time
	kv      map[string]memEntry // function + "\x00" + key
	secrets map[string]string   // function + "\x00" + name
	blobs   memBlobs
}

type memEntry struct {
	value   []byte
	expires time.Time // zero: never
}

var _ Host = (*MemoryHost)(nil)

// NewMemoryHost returns an empty MemoryHost using the wall clock.
func NewMemoryHost() *MemoryHost {
	return &MemoryHost{now: time.Now, kv: map[string]memEntry{}, secrets: map[string]string{}}
}

// SetSecret stores a secret for function.
func (h *MemoryHost) SetSecret(function, name, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secrets[function+"\x00"+name] = value
}

func (h *MemoryHost) get(k string) (memEntry, bool) {
	e, ok := h.kv[k]
	if ok && !e.expires.IsZero() && !h.now().Before(e.expires) {
		delete(h.kv, k)
		return memEntry{}, false
	}
	return e, ok
}

// KVGet returns the JSON value of key, or found=false.
func (h *MemoryHost) KVGet(_ context.Context, function, key string) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.get(function + "\x00" + key)
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), e.value...), true, nil
}

// KVSet stores a JSON value; ttl 0 means no expiry.
func (h *MemoryHost) KVSet(_ context.Context, function, key string, value []byte, ttl time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := memEntry{value: append([]byte(nil), value...)}
	if ttl > 0 {
		e.expires = h.now().Add(ttl)
	}
	h.kv[function+"\x00"+key] = e
	return nil
}

// KVDelete removes key.
func (h *MemoryHost) KVDelete(_ context.Context, function, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.kv, function+"\x00"+key)
	return nil
}

// KVIncr adds delta to the integer at key (missing counts as 0).
func (h *MemoryHost) KVIncr(_ context.Context, function, key string, delta int64) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := function + "\x00" + key
	e, ok := h.get(k)
	var n int64
	if ok {
		var err error
		n, err = strconv.ParseInt(strings.TrimSpace(string(e.value)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("kv.incr %q: value is not an integer", key)
		}
	}
	n += delta
	e.value = strconv.AppendInt(nil, n, 10)
	h.kv[k] = e
	return n, nil
}

// KVList returns up to limit entries whose key starts with prefix, in key
// order.
func (h *MemoryHost) KVList(_ context.Context, function, prefix string, limit int) ([]KVEntry, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := function + "\x00" + prefix
	var keys []string
	for k := range h.kv {
		if strings.HasPrefix(k, p) {
			if _, ok := h.get(k); ok {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	if limit >= 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]KVEntry, len(keys))
	for i, k := range keys {
		out[i] = KVEntry{Key: k[len(function)+1:], Value: append([]byte(nil), h.kv[k].value...)}
	}
	return out, nil
}

// SecretGet returns the secret name, or found=false.
func (h *MemoryHost) SecretGet(_ context.Context, function, name string) (string, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.secrets[function+"\x00"+name]
	return v, ok, nil
}

// errNoHTTP is HTTPRequest's answer when MemoryHost.HTTP is not set.
var errNoHTTP = errors.New("outbound HTTP is not configured on this host")

// HTTPRequest calls h.HTTP, or fails when it is not set.
func (h *MemoryHost) HTTPRequest(ctx context.Context, function string, req *HTTPRequest) (*HTTPResponse, error) {
	if h.HTTP == nil {
		return nil, errNoHTTP
	}
	return h.HTTP(ctx, function, req)
}
