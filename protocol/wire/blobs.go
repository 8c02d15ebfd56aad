package wire

import (
	"context"
	"time"
)

// MaxLuaBlobBytes bounds the data of one blobs.get or blobs.put from Lua:
// the worker holds it in memory. Bigger blobs go through the HTTP API.
const MaxLuaBlobBytes = 8 << 20

// BlobMeta is a blob's metadata as blobs.get/head/list return it.
type BlobMeta struct {
	Key         string
	Size        int64
	ContentType string
	ETag        string // hex sha256 of the content
	UpdatedAt   time.Time
}

// BlobHost is the blob half of Host. Every call is checked against the
// function's grants by the implementation (never by the worker): its own
// bucket, named after the function, and the buckets its current version
// was granted at deploy.
type BlobHost interface {
	// BlobGet returns the blob's content (at most MaxLuaBlobBytes) and
	// metadata, or found=false.
	BlobGet(ctx context.Context, function, bucket, key string) (data []byte, meta BlobMeta, found bool, err error)
	// BlobHead returns the blob's metadata, or found=false.
	BlobHead(ctx context.Context, function, bucket, key string) (meta BlobMeta, found bool, err error)
	// BlobPut stores data (at most MaxLuaBlobBytes) under key; contentType
	// "" means application/octet-stream.
	BlobPut(ctx context.Context, function, bucket, key string, data []byte, contentType string) (BlobMeta, error)
	// BlobList returns a page of the blobs whose key starts with prefix,
	// after cursor, and the next page's cursor ("" at the end).
	BlobList(ctx context.Context, function, bucket, prefix, cursor string) (items []BlobMeta, next string, err error)
	// BlobDelete removes the blob; found=false if there was none.
	BlobDelete(ctx context.Context, function, bucket, key string) (found bool, err error)
	// BlobURL returns the path and query of a signed URL serving the blob
	// without a token for ttl.
	BlobURL(ctx context.Context, function, bucket, key string, ttl time.Duration) (string, error)
}

// Blob host call operations (numbered apart from the kv ones).
const (
	opBlobGet byte = 0x20 + iota
	opBlobHead
	opBlobPut
	opBlobList
	opBlobDelete
	opBlobURL
)

func (e *encoder) blobMeta(m BlobMeta) {
	e.str(m.Key)
	e.varint(m.Size)
	e.str(m.ContentType)
	e.str(m.ETag)
	e.varint(m.UpdatedAt.UnixNano())
}

func (d *decoder) blobMeta() BlobMeta {
	return BlobMeta{Key: d.str(), Size: d.varint(), ContentType: d.str(), ETag: d.str(),
		UpdatedAt: time.Unix(0, d.varint())}
}

// serveBlob answers a blob host call; handled=false for an unknown op.
func serveBlob(ctx context.Context, op byte, dec *decoder, e *encoder, host Host, function string, herr *error) bool {
	ok := func() bool { return *herr == nil && dec.err == nil }
	switch op {
	case opBlobGet:
		bucket, key := dec.str(), dec.str()
		if ok() {
			var data []byte
			var m BlobMeta
			var found bool
			if data, m, found, *herr = host.BlobGet(ctx, function, bucket, key); *herr == nil {
				e.byte1(0)
				e.byte1(b2u(found))
				e.blobMeta(m)
				e.bytes(data)
			}
		}
	case opBlobHead:
		bucket, key := dec.str(), dec.str()
		if ok() {
			var m BlobMeta
			var found bool
			if m, found, *herr = host.BlobHead(ctx, function, bucket, key); *herr == nil {
				e.byte1(0)
				e.byte1(b2u(found))
				e.blobMeta(m)
			}
		}
	case opBlobPut:
		bucket, key, data, ct := dec.str(), dec.str(), dec.bytes(), dec.str()
		if ok() {
			var m BlobMeta
			if m, *herr = host.BlobPut(ctx, function, bucket, key, data, ct); *herr == nil {
				e.byte1(0)
				e.blobMeta(m)
			}
		}
	case opBlobList:
		bucket, prefix, cursor := dec.str(), dec.str(), dec.str()
		if ok() {
			var items []BlobMeta
			var next string
			if items, next, *herr = host.BlobList(ctx, function, bucket, prefix, cursor); *herr == nil {
				e.byte1(0)
				e.uvarint(uint64(len(items)))
				for _, m := range items {
					e.blobMeta(m)
				}
				e.str(next)
			}
		}
	case opBlobDelete:
		bucket, key := dec.str(), dec.str()
		if ok() {
			var found bool
			if found, *herr = host.BlobDelete(ctx, function, bucket, key); *herr == nil {
				e.byte1(0)
				e.byte1(b2u(found))
			}
		}
	case opBlobURL:
		bucket, key, ttl := dec.str(), dec.str(), dec.duration()
		if ok() {
			var u string
			if u, *herr = host.BlobURL(ctx, function, bucket, key, ttl); *herr == nil {
				e.byte1(0)
				e.str(u)
			}
		}
	default:
		return false
	}
	return true
}

// BlobGet asks the supervisor; function is ignored (the supervisor knows it).
func (d *DataConn) BlobGet(ctx context.Context, _, bucket, key string) ([]byte, BlobMeta, bool, error) {
	d.beginHost(opBlobGet)
	d.enc.str(bucket)
	d.enc.str(key)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return nil, BlobMeta{}, false, err
	}
	found := dec.byte1() == 1
	m := dec.blobMeta()
	data := dec.bytes()
	return data, m, found, decErr(dec)
}

// BlobHead asks the supervisor; function is ignored.
func (d *DataConn) BlobHead(ctx context.Context, _, bucket, key string) (BlobMeta, bool, error) {
	d.beginHost(opBlobHead)
	d.enc.str(bucket)
	d.enc.str(key)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return BlobMeta{}, false, err
	}
	found := dec.byte1() == 1
	m := dec.blobMeta()
	return m, found, decErr(dec)
}

// BlobPut asks the supervisor; function is ignored.
func (d *DataConn) BlobPut(ctx context.Context, _, bucket, key string, data []byte, contentType string) (BlobMeta, error) {
	d.beginHost(opBlobPut)
	d.enc.str(bucket)
	d.enc.str(key)
	d.enc.bytes(data)
	d.enc.str(contentType)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return BlobMeta{}, err
	}
	m := dec.blobMeta()
	return m, decErr(dec)
}

// BlobList asks the supervisor; function is ignored.
func (d *DataConn) BlobList(ctx context.Context, _, bucket, prefix, cursor string) ([]BlobMeta, string, error) {
	d.beginHost(opBlobList)
	d.enc.str(bucket)
	d.enc.str(prefix)
	d.enc.str(cursor)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return nil, "", err
	}
	items := make([]BlobMeta, dec.count())
	for i := range items {
		items[i] = dec.blobMeta()
	}
	next := dec.str()
	return items, next, decErr(dec)
}

// BlobDelete asks the supervisor; function is ignored.
func (d *DataConn) BlobDelete(ctx context.Context, _, bucket, key string) (bool, error) {
	d.beginHost(opBlobDelete)
	d.enc.str(bucket)
	d.enc.str(key)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return false, err
	}
	found := dec.byte1() == 1
	return found, decErr(dec)
}

// BlobURL asks the supervisor; function is ignored.
func (d *DataConn) BlobURL(ctx context.Context, _, bucket, key string, ttl time.Duration) (string, error) {
	d.beginHost(opBlobURL)
	d.enc.str(bucket)
	d.enc.str(key)
	d.enc.duration(ttl)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return "", err
	}
	u := dec.str()
	return u, decErr(dec)
}
