package protocol

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/picloud/picloud/protocol/wire"
)

// memBlobs is MemoryHost's blob store: blobs by bucket + "\x00" + key, and
// each function's grants ("bucket:r" or "bucket:rw").
type memBlobs struct {
	mu     sync.Mutex
	blobs  map[string]memBlob
	grants map[string][]string
}

type memBlob struct {
	data []byte
	meta BlobMeta
}

// GrantBlobs gives function access to other buckets than its own, as
// deploy --blobs does ("photos:rw", "public:r").
func (h *MemoryHost) GrantBlobs(function string, grants ...string) {
	h.blobs.mu.Lock()
	defer h.blobs.mu.Unlock()
	if h.blobs.grants == nil {
		h.blobs.grants = map[string][]string{}
	}
	h.blobs.grants[function] = grants
}

// check refuses a bucket the function was not granted (with the lock held).
func (b *memBlobs) check(function, bucket string, write bool) error {
	if bucket == function {
		return nil
	}
	for _, g := range b.grants[function] {
		name, mode, _ := strings.Cut(g, ":")
		if name == bucket && (!write || mode == "rw") {
			return nil
		}
	}
	return fmt.Errorf("bucket %s is not granted to function %s", bucket, function)
}

func (b *memBlobs) lockFor(function, bucket string, write bool) error {
	b.mu.Lock()
	if b.blobs == nil {
		b.blobs = map[string]memBlob{}
	}
	if err := b.check(function, bucket, write); err != nil {
		b.mu.Unlock()
		return err
	}
	return nil
}

// BlobGet returns the blob's content and metadata, or found=false.
func (h *MemoryHost) BlobGet(_ context.Context, function, bucket, key string) ([]byte, BlobMeta, bool, error) {
	if err := h.blobs.lockFor(function, bucket, false); err != nil {
		return nil, BlobMeta{}, false, err
	}
	defer h.blobs.mu.Unlock()
	b, ok := h.blobs.blobs[bucket+"\x00"+key]
	return append([]byte(nil), b.data...), b.meta, ok, nil
}

// BlobHead returns the blob's metadata, or found=false.
func (h *MemoryHost) BlobHead(_ context.Context, function, bucket, key string) (BlobMeta, bool, error) {
	if err := h.blobs.lockFor(function, bucket, false); err != nil {
		return BlobMeta{}, false, err
	}
	defer h.blobs.mu.Unlock()
	b, ok := h.blobs.blobs[bucket+"\x00"+key]
	return b.meta, ok, nil
}

// BlobPut stores data under key.
func (h *MemoryHost) BlobPut(_ context.Context, function, bucket, key string, data []byte, contentType string) (BlobMeta, error) {
	if len(data) > wire.MaxLuaBlobBytes {
		return BlobMeta{}, fmt.Errorf("blob of %d bytes is over the limit of %d", len(data), wire.MaxLuaBlobBytes)
	}
	if err := h.blobs.lockFor(function, bucket, true); err != nil {
		return BlobMeta{}, err
	}
	defer h.blobs.mu.Unlock()
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	sum := sha256.Sum256(data)
	m := BlobMeta{Key: key, Size: int64(len(data)), ContentType: contentType,
		ETag: hex.EncodeToString(sum[:]), UpdatedAt: h.now()}
	h.blobs.blobs[bucket+"\x00"+key] = memBlob{data: append([]byte(nil), data...), meta: m}
	return m, nil
}

// BlobList returns every blob whose key starts with prefix and is after
// cursor (the last key of the previous page), 100 at a time.
func (h *MemoryHost) BlobList(_ context.Context, function, bucket, prefix, cursor string) ([]BlobMeta, string, error) {
	if err := h.blobs.lockFor(function, bucket, false); err != nil {
		return nil, "", err
	}
	defer h.blobs.mu.Unlock()
	var out []BlobMeta
	for k, b := range h.blobs.blobs {
		bk, key, _ := strings.Cut(k, "\x00")
		if bk == bucket && strings.HasPrefix(key, prefix) && key > cursor {
			out = append(out, b.meta)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	next := ""
	if len(out) > 100 {
		out = out[:100]
		next = out[99].Key
	}
	return out, next, nil
}

// BlobDelete removes the blob.
func (h *MemoryHost) BlobDelete(_ context.Context, function, bucket, key string) (bool, error) {
	if err := h.blobs.lockFor(function, bucket, true); err != nil {
		return false, err
	}
	defer h.blobs.mu.Unlock()
	_, ok := h.blobs.blobs[bucket+"\x00"+key]
	delete(h.blobs.blobs, bucket+"\x00"+key)
	return ok, nil
}

// BlobURL returns a fake signed path (MemoryHost signs nothing).
func (h *MemoryHost) BlobURL(_ context.Context, function, bucket, key string, ttl time.Duration) (string, error) {
	if err := h.blobs.lockFor(function, bucket, false); err != nil {
		return "", err
	}
	defer h.blobs.mu.Unlock()
	return fmt.Sprintf("/api/v1/blobs/%s/%s?exp=%d&sig=memory", bucket, key, h.now().Add(ttl).Unix()), nil
}
