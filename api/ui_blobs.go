package api

import (
	"mime"
	"net/http"
	"path"
	"strings"
)

// setBlobDownload makes a blob read through the dashboard's origin a
// download: GET and HEAD of /api/v1/blobs/BUCKET/KEY answer with
// Content-Disposition: attachment (the key's last segment as the file
// name), besides the blob's own CSP sandbox and nosniff, so an uploaded
// page is saved, never rendered where the session's cookie lives.
func setBlobDownload(h http.Header, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/blobs/")
	if !ok {
		return
	}
	if _, key, ok := strings.Cut(rest, "/"); !ok || key == "" {
		return // a listing
	}
	cd := mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(r.URL.Path)})
	if cd == "" {
		cd = "attachment"
	}
	h.Set("Content-Disposition", cd)
}
