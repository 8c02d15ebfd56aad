package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/store"
)

// getBlob serves GET and HEAD of a blob, to a token with the read scope or
// to a signed URL (?exp=&sig=, store.SignBlobURL): If-None-Match (304) and
// one Range (206, 416), streamed one chunk at a time.
func (a *API) getBlob(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	bucket, key, err := blobName(ps)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Has("sig") || q.Has("exp") {
		k, err := a.deps.Store.BlobURLKey(r.Context())
		if err != nil {
			return internalError(err)
		}
		if err := store.CheckBlobURL(k, bucket, key, q.Get("exp"), q.Get("sig"), a.now()); err != nil {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden,
				Message: err.Error() + ": ask for a new one (picloud blob url, blobs.url)"}
		}
	} else if _, err := a.authenticate(r, ScopeRead); err != nil {
		return err
	}
	b, err := a.deps.Store.HeadBlob(r.Context(), bucket, key)
	if err != nil {
		return blobError(err, "blob "+bucket+"/"+truncate(key, 200))
	}
	h := w.Header()
	etag := `"` + b.ETag + `"`
	h.Set("ETag", etag)
	h.Set("Last-Modified", b.UpdatedAt.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	// What a user uploaded must not run as a page of this origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	off, n, status := int64(0), b.Size, http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		start, length, ok, satisfiable := parseRange(rg, b.Size)
		switch {
		case ok && !satisfiable:
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", b.Size))
			return errorf(http.StatusRequestedRangeNotSatisfiable, CodeRangeNotSatisfiable,
				"range %s is outside the blob's %d bytes", truncate(rg, 80), b.Size)
		case ok:
			off, n, status = start, length, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, b.Size))
		}
	}
	h.Set("Content-Type", b.ContentType)
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead || n == 0 {
		return nil
	}
	rc := http.NewResponseController(w)
	extend := func() { _ = rc.SetWriteDeadline(a.now().Add(blobIdle)) }
	extend()
	if err := a.deps.Store.ReadBlob(r.Context(), b, w, off, n, extend); err != nil {
		// The status is sent: all that is left is to cut the answer
		// short, so the client sees an incomplete body.
		if r.Context().Err() == nil {
			a.log.Error("blob download failed", "bucket", bucket, "key", key, "error", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// etagMatch reports whether an If-None-Match value lists etag (or is *).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// parseRange reads a single "bytes=" range against size. ok=false means
// the header is to be ignored (malformed, several ranges, another unit:
// the whole blob is served, as RFC 9110 allows); satisfiable=false means
// 416.
func parseRange(h string, size int64) (start, length int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if first == "" { // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		n = min(n, size)
		return size - n, n, true, true
	}
	s, err := strconv.ParseInt(first, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := size - 1
	if last != "" {
		if e, err = strconv.ParseInt(last, 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, true, false
	}
	return s, e - s + 1, true, true
}
