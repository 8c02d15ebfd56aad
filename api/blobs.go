package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/store"
)

// Blob routes (api/blobs*.go):
//
//	GET  /api/v1/blobs/:bucket?prefix=&cursor=&limit=   read: a page of blobs
//	GET, HEAD /api/v1/blobs/:bucket/*key                read, or a signed URL (?exp=&sig=)
//	PUT, DELETE /api/v1/blobs/:bucket/*key              blobs
//	POST /api/v1/blob-urls                              read: sign a URL
//
// Bodies stream both ways, one chunk at a time (store.BlobChunkSize): a
// blob is never held whole in memory.

// Blob error codes.
const (
	// CodeQuotaExceeded (507): the upload would take its bucket over
	// --blob-bucket-quota.
	CodeQuotaExceeded = "quota_exceeded"
	// CodeRangeNotSatisfiable (416): the Range starts past the end.
	CodeRangeNotSatisfiable = "range_not_satisfiable"
)

// blobIdle is how long an upload or download may wait for the peer between
// two chunks.
const blobIdle = 60 * time.Second

// BlobView is a blob's metadata as the API shows it.
type BlobView struct {
	Bucket      string    `json:"bucket"`
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	ETag        string    `json:"etag"` // hex sha256 of the content
	UpdatedAt   time.Time `json:"updated_at"`
}

// BlobList is the body of GET /api/v1/blobs/:bucket.
type BlobList struct {
	Blobs []BlobView `json:"blobs"`
	// NextCursor, when set, fetches the next page (?cursor=).
	NextCursor string `json:"next_cursor,omitempty"`
}

// BlobURLRequest is the body of POST /api/v1/blob-urls.
type BlobURLRequest struct {
	Bucket  string   `json:"bucket"`
	Key     string   `json:"key"`
	Expires Duration `json:"expires"` // "1h"; 1s to 168h
}

// BlobURL is the answer of POST /api/v1/blob-urls.
type BlobURL struct {
	// URL is the path and query serving the blob without a token; prefix
	// it with the server's public address.
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func blobView(b *store.Blob) BlobView {
	return BlobView{Bucket: b.Bucket, Key: b.Key, Size: b.Size, ContentType: b.ContentType, ETag: b.ETag, UpdatedAt: b.UpdatedAt}
}

func (a *API) blobRoutes() {
	a.handle(http.MethodGet, "/api/v1/blobs/:bucket", ScopeRead, a.listBlobs)
	// Public here: getBlob takes a token or a signed URL.
	a.handle(http.MethodGet, "/api/v1/blobs/:bucket/*key", "", a.getBlob)
	a.handle(http.MethodHead, "/api/v1/blobs/:bucket/*key", "", a.getBlob)
	a.handle(http.MethodPut, "/api/v1/blobs/:bucket/*key", ScopeBlobs, a.putBlob)
	a.handle(http.MethodDelete, "/api/v1/blobs/:bucket/*key", ScopeBlobs, a.deleteBlob)
	a.handle(http.MethodPost, "/api/v1/blob-urls", ScopeRead, a.signBlobURL)
}

// isBlobUpload says whether r is a blob upload, which has its own size
// bound (--blob-max-size) instead of --max-body.
func isBlobUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/api/v1/blobs/")
}

// blobName validates the route's bucket and key (400 saying what to fix).
func blobName(ps httprouter.Params) (bucket, key string, err error) {
	bucket, key = ps.ByName("bucket"), strings.TrimPrefix(ps.ByName("key"), "/")
	if err := store.CheckBucket(bucket); err != nil {
		return "", "", &Error{Status: http.StatusBadRequest, Code: CodeInvalidName, Field: "bucket", Message: strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error())}
	}
	if err := store.CheckBlobKey(key); err != nil {
		return "", "", &Error{Status: http.StatusBadRequest, Code: CodeInvalidName, Field: "key", Message: strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error())}
	}
	return bucket, key, nil
}

// blobError maps the store's blob errors to answers.
func blobError(err error, what string) error {
	var tl *store.BlobTooLargeError
	var qe *store.BlobQuotaError
	switch {
	case errors.As(err, &tl):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge, Message: tl.Error()}
	case errors.As(err, &qe):
		return &Error{Status: http.StatusInsufficientStorage, Code: CodeQuotaExceeded, Message: qe.Error()}
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%s not found", what)
	case errors.Is(err, store.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error())}
	}
	return internalError(err)
}

func (a *API) putBlob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	bucket, key, err := blobName(ps)
	if err != nil {
		return err
	}
	max := a.deps.BlobMaxSize
	if max > 0 && r.ContentLength > max {
		return blobError(&store.BlobTooLargeError{Max: max}, "")
	}
	rc := http.NewResponseController(w)
	// The body may take long: each chunk moves both deadlines on (the
	// answer's was set when the request came in).
	extend := func() {
		_ = rc.SetReadDeadline(a.now().Add(blobIdle))
		_ = rc.SetWriteDeadline(a.now().Add(blobIdle + a.deps.WriteTimeout))
	}
	extend()
	b, err := a.deps.Store.PutBlob(r.Context(), store.PutBlobParams{
		Bucket: bucket, Key: key, ContentType: r.Header.Get("Content-Type"), Body: r.Body,
		MaxSize: max, Quota: a.deps.BlobBucketQuota, Expected: r.ContentLength, OnChunk: extend,
	})
	if err != nil {
		if r.Context().Err() != nil || errors.Is(err, store.ErrUploadInterrupted) {
			return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest,
				Message: "upload interrupted: the request body ended early; nothing was stored", Err: err}
		}
		return blobError(err, "blob "+bucket+"/"+key)
	}
	w.Header().Set("ETag", `"`+b.ETag+`"`)
	writeJSON(w, http.StatusOK, blobView(b))
	return nil
}

func (a *API) deleteBlob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	bucket, key, err := blobName(ps)
	if err != nil {
		return err
	}
	found, err := a.deps.Store.DeleteBlob(r.Context(), bucket, key)
	if err != nil {
		return blobError(err, "blob")
	}
	if !found {
		return errorf(http.StatusNotFound, CodeNotFound, "blob %s/%s not found", bucket, truncate(key, 200))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listBlobs(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	bucket := ps.ByName("bucket")
	if err := store.CheckBucket(bucket); err != nil {
		return blobError(err, "")
	}
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxBlobList {
			return errorf(http.StatusBadRequest, CodeBadRequest, "limit %q is invalid: use 1 to %d", truncate(s, 20), store.MaxBlobList)
		}
		limit = n
	}
	page, err := a.deps.Store.ListBlobs(r.Context(), bucket, q.Get("prefix"), q.Get("cursor"), limit)
	if err != nil {
		return blobError(err, "")
	}
	out := BlobList{Blobs: make([]BlobView, 0, len(page.Blobs)), NextCursor: page.Next}
	for _, b := range page.Blobs {
		out.Blobs = append(out.Blobs, blobView(b))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) signBlobURL(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var req BlobURLRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if _, _, err := blobName(httprouter.Params{{Key: "bucket", Value: req.Bucket}, {Key: "key", Value: req.Key}}); err != nil {
		return err
	}
	ttl := time.Duration(req.Expires)
	if ttl < time.Second || ttl > store.MaxBlobURLTTL {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "expires",
			Message: fmt.Sprintf("expires %s is out of range: use 1s to %s", ttl, store.MaxBlobURLTTL)}
	}
	k, err := a.deps.Store.BlobURLKey(r.Context())
	if err != nil {
		return internalError(err)
	}
	exp := a.now().Add(ttl)
	writeJSON(w, http.StatusOK, BlobURL{URL: store.SignBlobURL(k, req.Bucket, req.Key, exp), ExpiresAt: exp.Truncate(time.Second).UTC()})
	return nil
}

// blobGrants returns the validated, sorted grants of req; nil when
// omitted (the store then keeps the current version's).
func blobGrants(req *[]string) ([]string, error) {
	if req == nil {
		return nil, nil
	}
	if len(*req) > MaxBlobGrants {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "blobs",
			Message: fmt.Sprintf("blobs: %d grants is over the limit of %d", len(*req), MaxBlobGrants)}
	}
	out, err := store.NormalizeBlobGrants(*req)
	if err != nil {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "blobs",
			Message: "blobs: " + strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error()) + " (want bucket:r or bucket:rw)"}
	}
	return out, nil
}
