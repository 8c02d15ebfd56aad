package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Blob storage: chunked bytea rows (schema/016_blobs.sql). Uploads stream
// chunk by chunk into a chunk set that only the final commit makes
// visible; downloads read one chunk per statement, so neither direction
// holds more than a chunk in memory nor a connection for the whole
// transfer.

// BlobChunkSize is the size of the chunks new blobs are written in. Each
// blob records its own, so it may change without a migration.
const BlobChunkSize = 1 << 20

// Bounds of blob names.
const (
	MaxBlobKeyBytes  = 1024
	MaxBlobList      = 1000
	DefaultBlobList  = 100
	maxContentType   = 255
	defaultBlobCType = "application/octet-stream"
)

// bucketRE is the shape of bucket names: a function's name is one.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CheckBucket says what is wrong with a bucket name, nil if nothing.
func CheckBucket(bucket string) error {
	if !bucketRE.MatchString(bucket) {
		return fmt.Errorf("bucket name %q is invalid: use 1 to 63 lowercase letters, digits and '-', starting with a letter or digit: %w",
			truncateName(bucket), ErrInvalid)
	}
	return nil
}

// CheckBlobKey says what is wrong with a blob key, nil if nothing: 1 to
// 1024 bytes of UTF-8 text without control characters.
func CheckBlobKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("blob key is empty: %w", ErrInvalid)
	case len(key) > MaxBlobKeyBytes:
		return fmt.Errorf("blob key is %d bytes, over the limit of %d: %w", len(key), MaxBlobKeyBytes, ErrInvalid)
	case !utf8.ValidString(key):
		return fmt.Errorf("blob key is not valid UTF-8 text: %w", ErrInvalid)
	case strings.IndexFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("blob key contains a control character: %w", ErrInvalid)
	}
	return nil
}

func truncateName(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Blob is a stored blob's metadata.
type Blob struct {
	Bucket      string
	Key         string
	Size        int64
	ContentType string
	// ETag is the hex sha256 of the content.
	ETag      string
	UpdatedAt time.Time

	chunkset  int64
	chunkSize int
}

// ErrUploadInterrupted: reading an upload's body failed (the client went
// away); nothing was stored.
var ErrUploadInterrupted = errors.New("upload interrupted")

// BlobTooLargeError: an upload over the per-blob maximum.
type BlobTooLargeError struct{ Max int64 }

func (e *BlobTooLargeError) Error() string {
	return fmt.Sprintf("blob is larger than the per-blob maximum of %d bytes (picloud serve --blob-max-size)", e.Max)
}

// BlobQuotaError: an upload that would take its bucket over its quota.
type BlobQuotaError struct {
	Bucket      string
	Quota, Used int64
}

func (e *BlobQuotaError) Error() string {
	return fmt.Sprintf("bucket %s would exceed its quota of %d bytes (%d bytes used by other blobs; picloud serve --blob-bucket-quota)",
		e.Bucket, e.Quota, e.Used)
}

// PutBlobParams describe an upload.
type PutBlobParams struct {
	Bucket, Key string
	// ContentType is kept with the blob; empty means
	// application/octet-stream.
	ContentType string
	// Body is read to EOF, one chunk at a time.
	Body io.Reader
	// MaxSize bounds the blob (*BlobTooLargeError beyond); 0 means none.
	MaxSize int64
	// Quota bounds the sum of the sizes of the bucket's blobs
	// (*BlobQuotaError beyond); 0 means none.
	Quota int64
	// Expected is the announced size (Content-Length), or -1: an upload
	// that cannot fit under MaxSize or Quota fails before reading a byte.
	Expected int64
	// OnChunk, if set, is called after each chunk is stored (the HTTP
	// handler extends its read deadline there).
	OnChunk func()
}

// PutBlob stores a blob, streaming Body into chunks under a new chunk set
// and making it visible (replacing any blob of the same key) only in the
// final transaction. On any failure the chunks written so far are deleted
// (and, if the process dies first, the sweeper deletes them).
func (s *Store) PutBlob(ctx context.Context, p PutBlobParams) (*Blob, error) {
	if err := CheckBucket(p.Bucket); err != nil {
		return nil, err
	}
	if err := CheckBlobKey(p.Key); err != nil {
		return nil, err
	}
	if p.ContentType == "" {
		p.ContentType = defaultBlobCType
	}
	if len(p.ContentType) > maxContentType || strings.IndexFunc(p.ContentType, func(r rune) bool { return r < 0x20 || r >= 0x7f }) >= 0 {
		return nil, fmt.Errorf("content type must be at most %d printable ASCII characters: %w", maxContentType, ErrInvalid)
	}
	if p.MaxSize > 0 && p.Expected > p.MaxSize {
		return nil, &BlobTooLargeError{Max: p.MaxSize}
	}
	var set int64
	if err := s.pool.QueryRow(ctx, `INSERT INTO blob_chunksets (id, bucket, key)
		VALUES (nextval('blob_chunkset_ids'), $1, $2) RETURNING id`, p.Bucket, p.Key).Scan(&set); err != nil {
		return nil, interpretError(err, "start upload of "+p.Bucket+"/"+p.Key)
	}
	b, err := s.putChunks(ctx, set, p)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if derr := s.dropChunkset(cctx, set); derr != nil {
			s.logger.Warn("blob upload failed and its chunks remain for the sweeper", "chunkset", set, "error", derr)
		}
		return nil, err
	}
	return b, nil
}

func (s *Store) putChunks(ctx context.Context, set int64, p PutBlobParams) (*Blob, error) {
	var used int64
	if p.Quota > 0 {
		var err error
		if used, err = s.bucketUsage(ctx, s.pool, p.Bucket, p.Key); err != nil {
			return nil, err
		}
		if used > p.Quota || (p.Expected > 0 && used+p.Expected > p.Quota) {
			return nil, &BlobQuotaError{Bucket: p.Bucket, Quota: p.Quota, Used: used}
		}
	}
	h := sha256.New()
	buf := make([]byte, BlobChunkSize)
	var size int64
	for seq := 0; ; seq++ {
		n, rerr := fillChunk(p.Body, buf)
		if n > 0 {
			size += int64(n)
			if p.MaxSize > 0 && size > p.MaxSize {
				return nil, &BlobTooLargeError{Max: p.MaxSize}
			}
			if p.Quota > 0 && used+size > p.Quota {
				return nil, &BlobQuotaError{Bucket: p.Bucket, Quota: p.Quota, Used: used}
			}
			h.Write(buf[:n])
			tag, err := s.pool.Exec(ctx, `WITH t AS (
					UPDATE blob_chunksets SET touched_at = now() WHERE id = $1 RETURNING id)
				INSERT INTO blob_chunks (chunkset, seq, data) SELECT id, $2, $3 FROM t`, set, seq, buf[:n])
			if err != nil {
				return nil, interpretError(err, fmt.Sprintf("write chunk %d of %s/%s", seq, p.Bucket, p.Key))
			}
			if tag.RowsAffected() == 0 {
				return nil, fmt.Errorf("write chunk %d of %s/%s: the upload was idle past the sweeper's grace period", seq, p.Bucket, p.Key)
			}
			if p.OnChunk != nil {
				p.OnChunk()
			}
		}
		if rerr == io.EOF { //nolint:errorlint // fillChunk returns io.EOF itself
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("read upload of %s/%s: %w: %w", p.Bucket, p.Key, ErrUploadInterrupted, rerr)
		}
	}
	b := &Blob{Bucket: p.Bucket, Key: p.Key, Size: size, ContentType: p.ContentType,
		ETag: hex.EncodeToString(h.Sum(nil)), chunkset: set, chunkSize: BlobChunkSize}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if p.Quota > 0 {
			// One commit per bucket at a time, so two uploads cannot both
			// fit under the quota on their own.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('picloud.blobs.' || $1, 0))`, p.Bucket); err != nil {
				return interpretError(err, "lock bucket "+p.Bucket)
			}
			used, err := s.bucketUsage(ctx, tx, p.Bucket, p.Key)
			if err != nil {
				return err
			}
			if used+size > p.Quota {
				return &BlobQuotaError{Bucket: p.Bucket, Quota: p.Quota, Used: used}
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM blob_chunksets WHERE id = $1`, set)
		if err != nil {
			return interpretError(err, "commit upload")
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("commit upload of %s/%s: the upload was idle past the sweeper's grace period", p.Bucket, p.Key)
		}
		// The replaced chunk set goes to the sweeper, after the grace
		// period, so a download reading it can finish.
		if _, err := tx.Exec(ctx, `INSERT INTO blob_chunksets (id, bucket, key)
			SELECT chunkset, bucket, key FROM blobs WHERE bucket = $1 AND key = $2`, p.Bucket, p.Key); err != nil {
			return interpretError(err, "release replaced blob")
		}
		return tx.QueryRow(ctx, `INSERT INTO blobs (bucket, key, chunkset, chunk_size, size, content_type, etag)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (bucket, key) DO UPDATE SET chunkset = EXCLUDED.chunkset, chunk_size = EXCLUDED.chunk_size,
				size = EXCLUDED.size, content_type = EXCLUDED.content_type, etag = EXCLUDED.etag, updated_at = now()
			RETURNING updated_at`, p.Bucket, p.Key, set, BlobChunkSize, size, p.ContentType, b.ETag).Scan(&b.UpdatedAt)
	})
	if err != nil {
		var qe *BlobQuotaError
		if errors.As(err, &qe) {
			return nil, err
		}
		return nil, fmt.Errorf("commit blob %s/%s: %w", p.Bucket, p.Key, err)
	}
	return b, nil
}

// fillChunk reads into buf until it is full (err nil) or the reader ends
// (io.EOF, unwrapped) or fails. Unlike io.ReadFull it tells a clean end
// from a body cut short (which net/http reports as io.ErrUnexpectedEOF).
func fillChunk(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF { //nolint:errorlint // io.Reader contract
			return n, io.EOF
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *Store) bucketUsage(ctx context.Context, q querier, bucket, except string) (int64, error) {
	var used int64
	err := q.QueryRow(ctx, `SELECT coalesce(sum(size), 0)::bigint FROM blobs WHERE bucket = $1 AND key <> $2`,
		bucket, except).Scan(&used)
	return used, interpretError(err, "usage of bucket "+bucket)
}

// dropChunkset deletes a chunk set that never became visible.
func (s *Store) dropChunkset(ctx context.Context, set int64) error {
	_, err := s.pool.Exec(ctx, `WITH d AS (DELETE FROM blob_chunksets WHERE id = $1)
		DELETE FROM blob_chunks WHERE chunkset = $1`, set)
	return interpretError(err, "drop chunk set")
}

const blobColumns = `bucket, key, size, content_type, etag, updated_at, chunkset, chunk_size`

func scanBlob(row pgx.Row) (*Blob, error) {
	var b Blob
	err := row.Scan(&b.Bucket, &b.Key, &b.Size, &b.ContentType, &b.ETag, &b.UpdatedAt, &b.chunkset, &b.chunkSize)
	return &b, err
}

// HeadBlob returns the blob's metadata; ErrNotFound if there is none.
func (s *Store) HeadBlob(ctx context.Context, bucket, key string) (*Blob, error) {
	if err := CheckBucket(bucket); err != nil {
		return nil, err
	}
	if err := CheckBlobKey(key); err != nil {
		return nil, err
	}
	b, err := scanBlob(s.pool.QueryRow(ctx, `SELECT `+blobColumns+` FROM blobs WHERE bucket = $1 AND key = $2`, bucket, key))
	if err != nil {
		return nil, interpretError(err, "blob "+bucket+"/"+key)
	}
	return b, nil
}

// chunkBuf scans a bytea into a reused buffer.
type chunkBuf struct{ b []byte }

// ScanBytes implements pgtype.BytesScanner.
func (c *chunkBuf) ScanBytes(v []byte) error {
	c.b = append(c.b[:0], v...)
	return nil
}

// ReadBlob writes n bytes of b's content from offset off to w, one chunk
// per statement; n < 0 means to the end. after, if set, runs after each
// write (the HTTP handler extends its write deadline there).
func (s *Store) ReadBlob(ctx context.Context, b *Blob, w io.Writer, off, n int64, after func()) error {
	if n < 0 || off+n > b.Size {
		n = b.Size - off
	}
	if off < 0 || n < 0 {
		return fmt.Errorf("read blob %s/%s: range %d+%d out of 0..%d: %w", b.Bucket, b.Key, off, n, b.Size, ErrInvalid)
	}
	var buf chunkBuf
	cs := int64(b.chunkSize)
	for n > 0 {
		seq := off / cs
		if err := s.pool.QueryRow(ctx, `SELECT data FROM blob_chunks WHERE chunkset = $1 AND seq = $2`,
			b.chunkset, seq).Scan(&buf); err != nil {
			return interpretError(err, fmt.Sprintf("read chunk %d of %s/%s", seq, b.Bucket, b.Key))
		}
		at := off - seq*cs
		if at >= int64(len(buf.b)) {
			return fmt.Errorf("read chunk %d of %s/%s: chunk is short", seq, b.Bucket, b.Key)
		}
		part := buf.b[at:]
		if int64(len(part)) > n {
			part = part[:n]
		}
		if _, err := w.Write(part); err != nil {
			return fmt.Errorf("write blob %s/%s: %w", b.Bucket, b.Key, err)
		}
		if after != nil {
			after()
		}
		off += int64(len(part))
		n -= int64(len(part))
	}
	return nil
}

// DeleteBlob deletes a blob (its chunks go to the sweeper after the grace
// period); found=false if there was none.
func (s *Store) DeleteBlob(ctx context.Context, bucket, key string) (bool, error) {
	if err := CheckBucket(bucket); err != nil {
		return false, err
	}
	if err := CheckBlobKey(key); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, `WITH d AS (DELETE FROM blobs WHERE bucket = $1 AND key = $2 RETURNING chunkset, bucket, key)
		INSERT INTO blob_chunksets (id, bucket, key) SELECT chunkset, bucket, key FROM d`, bucket, key)
	if err != nil {
		return false, interpretError(err, "delete blob "+bucket+"/"+key)
	}
	return tag.RowsAffected() > 0, nil
}

// BlobPage is one page of a listing.
type BlobPage struct {
	Blobs []*Blob
	// Next is the cursor of the next page, "" at the end.
	Next string
}

// ListBlobs returns up to limit blobs of bucket whose key starts with
// prefix, in bytewise key order, after cursor (a Next of an earlier page).
func (s *Store) ListBlobs(ctx context.Context, bucket, prefix, cursor string, limit int) (*BlobPage, error) {
	if err := CheckBucket(bucket); err != nil {
		return nil, err
	}
	if !utf8.ValidString(prefix) || len(prefix) > MaxBlobKeyBytes {
		return nil, fmt.Errorf("prefix must be UTF-8 text of at most %d bytes: %w", MaxBlobKeyBytes, ErrInvalid)
	}
	after := ""
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !utf8.Valid(raw) {
			return nil, fmt.Errorf("cursor %q is not one a listing returned: %w", truncateName(cursor), ErrInvalid)
		}
		after = string(raw)
	}
	if limit <= 0 {
		limit = DefaultBlobList
	}
	limit = min(limit, MaxBlobList)
	upper, bounded := prefixSuccessor(prefix)
	rows, err := s.pool.Query(ctx, `SELECT `+blobColumns+` FROM blobs
		WHERE bucket = $1 AND key >= $2 AND (NOT $3 OR key < $4) AND key > $5
		ORDER BY key LIMIT $6`, bucket, prefix, bounded, upper, after, limit+1)
	if err != nil {
		return nil, interpretError(err, "list blobs of "+bucket)
	}
	defer rows.Close()
	page := &BlobPage{Blobs: []*Blob{}}
	for rows.Next() {
		b, err := scanBlob(rows)
		if err != nil {
			return nil, interpretError(err, "scan blob")
		}
		page.Blobs = append(page.Blobs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError(err, "list blobs of "+bucket)
	}
	if len(page.Blobs) > limit {
		page.Blobs = page.Blobs[:limit]
		page.Next = base64.RawURLEncoding.EncodeToString([]byte(page.Blobs[limit-1].Key))
	}
	return page, nil
}

// SweepBlobs deletes the chunk sets untouched for longer than grace
// (interrupted uploads, replaced and deleted blobs) with their chunks, at
// most 100 sets per call; it returns how many sets and chunks went.
func (s *Store) SweepBlobs(ctx context.Context, grace time.Duration) (sets, chunks int64, err error) {
	err = s.pool.QueryRow(ctx, `WITH gone AS (
			DELETE FROM blob_chunksets WHERE id IN (
				SELECT id FROM blob_chunksets WHERE touched_at < now() - $1::bigint * interval '1 microsecond'
				ORDER BY touched_at LIMIT 100 FOR UPDATE SKIP LOCKED)
			RETURNING id),
		c AS (DELETE FROM blob_chunks WHERE chunkset IN (SELECT id FROM gone) RETURNING 1)
		SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM c)`, grace.Microseconds()).Scan(&sets, &chunks)
	if err != nil {
		return 0, 0, interpretError(err, "sweep blob chunks")
	}
	return sets, chunks, nil
}
