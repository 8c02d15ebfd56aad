package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/picloud/picloud/protocol"
)

// Bounds of the key-value store, enforced by Host.
const (
	MaxKVKeyBytes   = 1024
	MaxKVValueBytes = 1 << 20
	DefaultKVList   = 100
	MaxKVList       = 1000
)

// Host is the PostgreSQL part of protocol.Host: a worker's kv and secrets
// calls. Each function has its own key namespace; a function reads only the
// secrets its current version was granted at deploy. Outbound HTTP is not
// the store's: server.Run joins this Host with package outbound's client.
type Host struct {
	s          *Store
	blobLimits BlobLimits
}

// NewHost returns the Host backed by s. Secrets need s opened WithSecretKey.
func NewHost(s *Store, opts ...HostOption) *Host {
	h := &Host{s: s}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Host returns the protocol.Host backed by this store.
func (s *Store) Host(opts ...HostOption) *Host { return NewHost(s, opts...) }

func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("kv key is empty: %w", ErrInvalid)
	case len(key) > MaxKVKeyBytes:
		return fmt.Errorf("kv key is %d bytes, over the limit of %d: %w", len(key), MaxKVKeyBytes, ErrInvalid)
	case !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("kv key is not valid UTF-8 text: %w", ErrInvalid)
	}
	return nil
}

// KVGet returns the JSON value at key, unless it is missing or expired.
func (h *Host) KVGet(ctx context.Context, function, key string) ([]byte, bool, error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	var v []byte
	err := h.s.pool.QueryRow(ctx, `SELECT value FROM kv WHERE function = $1 AND key = $2
		AND (expires_at IS NULL OR expires_at > now())`, function, key).Scan(&v)
	if err != nil {
		err = interpretError(err, "kv.get "+key)
		if errors.Is(err, ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return v, true, nil
}

// KVSet stores a JSON value at key; ttl > 0 makes it expire after ttl, 0
// stores it without expiry (replacing an earlier expiry).
func (h *Host) KVSet(ctx context.Context, function, key string, value []byte, ttl time.Duration) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > MaxKVValueBytes {
		return fmt.Errorf("kv value is %d bytes, over the limit of %d: %w", len(value), MaxKVValueBytes, ErrInvalid)
	}
	if !json.Valid(value) {
		return fmt.Errorf("kv value is not JSON: %w", ErrInvalid)
	}
	if ttl < 0 {
		return fmt.Errorf("kv ttl %s is negative: %w", ttl, ErrInvalid)
	}
	_, err := h.s.pool.Exec(ctx, `INSERT INTO kv (function, key, value, expires_at)
		VALUES ($1, $2, $3::text::jsonb, CASE WHEN $4::bigint > 0 THEN now() + $4::bigint * interval '1 microsecond' END)
		ON CONFLICT (function, key) DO UPDATE
		SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = now()`,
		function, key, string(value), ttl.Microseconds())
	return interpretError(err, "kv.set "+key)
}

// KVDelete removes key; a missing key is not an error.
func (h *Host) KVDelete(ctx context.Context, function, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := h.s.pool.Exec(ctx, `DELETE FROM kv WHERE function = $1 AND key = $2`, function, key)
	return interpretError(err, "kv.delete "+key)
}

// KVIncr adds delta to the integer at key and returns the new value. A
// missing or expired key counts as 0 and gets no expiry; an existing one
// keeps its expiry. A value that is not an integer is ErrInvalid, and so is
// an overflow of int64.
func (h *Host) KVIncr(ctx context.Context, function, key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	var n int64
	err := h.s.pool.QueryRow(ctx, `SELECT picloud_kv_incr($1, $2, $3)`, function, key, delta).Scan(&n)
	if err != nil {
		return 0, interpretError(err, "kv.incr "+key)
	}
	return n, nil
}

// KVList returns up to limit live entries whose key starts with prefix, in
// bytewise key order. limit 0 means DefaultKVList; at most MaxKVList.
func (h *Host) KVList(ctx context.Context, function, prefix string, limit int) ([]protocol.KVEntry, error) {
	if prefix != "" && !utf8.ValidString(prefix) {
		return nil, fmt.Errorf("kv prefix is not valid UTF-8 text: %w", ErrInvalid)
	}
	if limit <= 0 {
		limit = DefaultKVList
	}
	limit = min(limit, MaxKVList)
	// Keys have the "C" collation, so the btree is in code point order and
	// [prefix, successor(prefix)) is exactly the keys starting with prefix.
	upper, bounded := prefixSuccessor(prefix)
	rows, err := h.s.pool.Query(ctx, `SELECT key, value FROM kv
		WHERE function = $1 AND key >= $2 AND (NOT $3 OR key < $4)
		  AND (expires_at IS NULL OR expires_at > now())
		ORDER BY key LIMIT $5`, function, prefix, bounded, upper, limit)
	if err != nil {
		return nil, interpretError(err, "kv.list "+prefix)
	}
	defer rows.Close()
	var out []protocol.KVEntry
	for rows.Next() {
		var e protocol.KVEntry
		if err := rows.Scan(&e.Key, &e.Value); err != nil {
			return nil, interpretError(err, "scan kv entry")
		}
		out = append(out, e)
	}
	return out, interpretError(rows.Err(), "kv.list "+prefix)
}

// prefixSuccessor returns the smallest string greater than every string
// that starts with prefix, in code point order, or bounded=false if there
// is none (empty prefix, or only U+10FFFF).
func prefixSuccessor(prefix string) (string, bool) {
	runes := []rune(prefix)
	for len(runes) > 0 {
		last := runes[len(runes)-1]
		if last < utf8.MaxRune {
			next := last + 1
			if next >= 0xD800 && next <= 0xDFFF { // surrogates are not text
				next = 0xE000
			}
			runes[len(runes)-1] = next
			return string(runes), true
		}
		runes = runes[:len(runes)-1]
	}
	return "", false
}

// SecretNotGrantedError is the answer to secrets.get of a secret the
// function's current version was not granted. It reads the same whether
// or not the secret exists, so it tells a function nothing about secrets
// it may not read.
type SecretNotGrantedError struct {
	Function, Secret string
}

func (e *SecretNotGrantedError) Error() string {
	return fmt.Sprintf("secret %q is not granted to function %s: grant it at deploy with "+
		"'picloud deploy --secrets %s' (the deploy API's \"secrets\" field)", e.Secret, e.Function, e.Secret)
}

// SecretGet returns the decrypted secret name, or found=false, if the
// current version of function was granted it; else *SecretNotGrantedError.
// The grant is checked in the same query that reads the secret, against
// the version current at that moment (a worker of the previous version
// still finishing a call after a deploy reads under the new grants).
func (h *Host) SecretGet(ctx context.Context, function, name string) (string, bool, error) {
	gcm, err := h.s.aead()
	if err != nil {
		return "", false, fmt.Errorf("get secret %s: %w", name, err)
	}
	var granted bool
	var nonce, ciphertext []byte
	err = h.s.pool.QueryRow(ctx, `SELECT v.secrets IS NULL OR $2 = ANY (v.secrets), s.nonce, s.ciphertext
		FROM functions f
		JOIN function_versions v ON v.function = f.name AND v.version = f.current_version
		LEFT JOIN secrets s ON s.name = $2 AND (v.secrets IS NULL OR $2 = ANY (v.secrets))
		WHERE f.name = $1`, function, name).Scan(&granted, &nonce, &ciphertext)
	if err = interpretError(err, "secret "+name); errors.Is(err, ErrNotFound) {
		granted = false // the function is gone: it is granted nothing
	} else if err != nil {
		return "", false, err
	}
	if !granted {
		return "", false, &SecretNotGrantedError{Function: function, Secret: name}
	}
	if nonce == nil {
		return "", false, nil
	}
	v, err := openSecret(gcm, name, nonce, ciphertext)
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

// PruneExpiredKV deletes expired key-value rows (they are already invisible)
// and returns how many; for a periodic retention job.
func (s *Store) PruneExpiredKV(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM kv WHERE expires_at <= now()`)
	if err != nil {
		return 0, interpretError(err, "prune expired kv")
	}
	return tag.RowsAffected(), nil
}
