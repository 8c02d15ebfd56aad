package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/protocol/wire"
)

// MaxBlobURLTTL bounds the lifetime of a signed blob URL.
const MaxBlobURLTTL = 7 * 24 * time.Hour

// BlobLimits are the server's blob bounds (picloud serve --blob-max-size,
// --blob-bucket-quota); 0 means none.
type BlobLimits struct {
	MaxSize     int64
	BucketQuota int64
}

// HostOption configures a Host.
type HostOption func(*Host)

// WithBlobLimits applies the server's blob bounds to the Lua blobs calls.
func WithBlobLimits(l BlobLimits) HostOption { return func(h *Host) { h.blobLimits = l } }

// BlobNotGrantedError is the answer to a blobs call on a bucket the
// function's current version was not granted (or only for reading).
type BlobNotGrantedError struct {
	Function, Bucket string
	Write            bool
}

func (e *BlobNotGrantedError) Error() string {
	mode, what := "r", "read"
	if e.Write {
		mode, what = "rw", "write"
	}
	return fmt.Sprintf("function %s may not %s bucket %s (a function has its own bucket, %s): grant it at deploy with "+
		"'picloud deploy --blobs %s:%s' (the deploy API's \"blobs\" field)", e.Function, what, e.Bucket, e.Function, e.Bucket, mode)
}

// ParseBlobGrant splits "bucket:r" or "bucket:rw" (a bare bucket is
// read-only); the error says what to fix.
func ParseBlobGrant(g string) (bucket string, write bool, err error) {
	bucket, mode, hasMode := strings.Cut(g, ":")
	if err := CheckBucket(bucket); err != nil {
		return "", false, err
	}
	switch {
	case !hasMode || mode == "r":
		return bucket, false, nil
	case mode == "rw":
		return bucket, true, nil
	}
	return "", false, fmt.Errorf("blob grant %q: the mode must be r or rw: %w", truncateName(g), ErrInvalid)
}

// checkBlobGrant refuses a bucket the current version of function was not
// granted. The own bucket (named after the function) is always granted.
func (h *Host) checkBlobGrant(ctx context.Context, function, bucket string, write bool) error {
	if err := CheckBucket(bucket); err != nil {
		return err
	}
	if bucket == function {
		return nil
	}
	var grants []string
	err := h.s.pool.QueryRow(ctx, `SELECT v.blobs FROM functions f
		JOIN function_versions v ON v.function = f.name AND v.version = f.current_version
		WHERE f.name = $1`, function).Scan(&grants)
	if err = interpretError(err, "blob grants of "+function); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	for _, g := range grants {
		if b, w, err := ParseBlobGrant(g); err == nil && b == bucket && (w || !write) {
			return nil
		}
	}
	return &BlobNotGrantedError{Function: function, Bucket: bucket, Write: write}
}

func blobMeta(b *Blob) protocol.BlobMeta {
	return protocol.BlobMeta{Key: b.Key, Size: b.Size, ContentType: b.ContentType, ETag: b.ETag, UpdatedAt: b.UpdatedAt}
}

// luaTooBig is the error of a blob over the Lua bound.
func luaTooBig(bucket, key string, size int64) error {
	return fmt.Errorf("blob %s/%s is %d bytes, over the limit of %d for Lua: use the HTTP API (%s) or blobs.url: %w",
		bucket, key, size, wire.MaxLuaBlobBytes, BlobPath(bucket, key), ErrInvalid)
}

// BlobGet returns the blob's content and metadata, or found=false.
func (h *Host) BlobGet(ctx context.Context, function, bucket, key string) ([]byte, protocol.BlobMeta, bool, error) {
	if err := h.checkBlobGrant(ctx, function, bucket, false); err != nil {
		return nil, protocol.BlobMeta{}, false, err
	}
	b, err := h.s.HeadBlob(ctx, bucket, key)
	if errors.Is(err, ErrNotFound) {
		return nil, protocol.BlobMeta{}, false, nil
	}
	if err != nil {
		return nil, protocol.BlobMeta{}, false, err
	}
	if b.Size > wire.MaxLuaBlobBytes {
		return nil, protocol.BlobMeta{}, false, luaTooBig(bucket, key, b.Size)
	}
	var buf bytes.Buffer
	buf.Grow(int(b.Size))
	if err := h.s.ReadBlob(ctx, b, &buf, 0, -1, nil); err != nil {
		return nil, protocol.BlobMeta{}, false, err
	}
	return buf.Bytes(), blobMeta(b), true, nil
}

// BlobHead returns the blob's metadata, or found=false.
func (h *Host) BlobHead(ctx context.Context, function, bucket, key string) (protocol.BlobMeta, bool, error) {
	if err := h.checkBlobGrant(ctx, function, bucket, false); err != nil {
		return protocol.BlobMeta{}, false, err
	}
	b, err := h.s.HeadBlob(ctx, bucket, key)
	if errors.Is(err, ErrNotFound) {
		return protocol.BlobMeta{}, false, nil
	}
	if err != nil {
		return protocol.BlobMeta{}, false, err
	}
	return blobMeta(b), true, nil
}

// BlobPut stores data under the server's blob limits.
func (h *Host) BlobPut(ctx context.Context, function, bucket, key string, data []byte, contentType string) (protocol.BlobMeta, error) {
	if err := h.checkBlobGrant(ctx, function, bucket, true); err != nil {
		return protocol.BlobMeta{}, err
	}
	if len(data) > wire.MaxLuaBlobBytes {
		return protocol.BlobMeta{}, luaTooBig(bucket, key, int64(len(data)))
	}
	b, err := h.s.PutBlob(ctx, PutBlobParams{Bucket: bucket, Key: key, ContentType: contentType,
		Body: bytes.NewReader(data), Expected: int64(len(data)), MaxSize: h.blobLimits.MaxSize, Quota: h.blobLimits.BucketQuota})
	if err != nil {
		return protocol.BlobMeta{}, err
	}
	return blobMeta(b), nil
}

// BlobList returns a page of blobs (DefaultBlobList at most).
func (h *Host) BlobList(ctx context.Context, function, bucket, prefix, cursor string) ([]protocol.BlobMeta, string, error) {
	if err := h.checkBlobGrant(ctx, function, bucket, false); err != nil {
		return nil, "", err
	}
	page, err := h.s.ListBlobs(ctx, bucket, prefix, cursor, DefaultBlobList)
	if err != nil {
		return nil, "", err
	}
	out := make([]protocol.BlobMeta, len(page.Blobs))
	for i, b := range page.Blobs {
		out[i] = blobMeta(b)
	}
	return out, page.Next, nil
}

// BlobDelete removes the blob; found=false if there was none.
func (h *Host) BlobDelete(ctx context.Context, function, bucket, key string) (bool, error) {
	if err := h.checkBlobGrant(ctx, function, bucket, true); err != nil {
		return false, err
	}
	return h.s.DeleteBlob(ctx, bucket, key)
}

// BlobURL signs a URL serving the blob for ttl (1 s to MaxBlobURLTTL).
func (h *Host) BlobURL(ctx context.Context, function, bucket, key string, ttl time.Duration) (string, error) {
	if err := h.checkBlobGrant(ctx, function, bucket, false); err != nil {
		return "", err
	}
	if err := CheckBlobKey(key); err != nil {
		return "", err
	}
	if ttl < time.Second || ttl > MaxBlobURLTTL {
		return "", fmt.Errorf("signed URL lifetime %s is out of range: use 1 s to %s: %w", ttl, MaxBlobURLTTL, ErrInvalid)
	}
	k, err := h.s.BlobURLKey(ctx)
	if err != nil {
		return "", err
	}
	return SignBlobURL(k, bucket, key, time.Now().Add(ttl)), nil
}

// NormalizeBlobGrants validates, sorts and deduplicates grants ("b:rw"
// wins over "b:r"); a bare bucket becomes "bucket:r".
func NormalizeBlobGrants(grants []string) ([]string, error) {
	modes := map[string]bool{}
	for _, g := range grants {
		b, w, err := ParseBlobGrant(strings.TrimSpace(g))
		if err != nil {
			return nil, err
		}
		modes[b] = modes[b] || w
	}
	out := make([]string, 0, len(modes))
	for b, w := range modes {
		if w {
			out = append(out, b+":rw")
		} else {
			out = append(out, b+":r")
		}
	}
	slices.Sort(out)
	return out, nil
}
