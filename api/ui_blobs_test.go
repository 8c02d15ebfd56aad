package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSetBlobDownload_AttachmentForBlobReadsOnly(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/api/v1/blobs/photos/2024/cat.jpg", "attachment; filename=cat.jpg"},
		{"HEAD", "/api/v1/blobs/photos/a%20b.html", `attachment; filename="a b.html"`},
		{"GET", "/api/v1/blobs/photos/%C3%A9t%C3%A9.txt", "attachment; filename*=utf-8''%C3%A9t%C3%A9.txt"},
		{"GET", "/api/v1/blobs/photos", ""},  // a listing
		{"GET", "/api/v1/blobs/photos/", ""}, // no key
		{"PUT", "/api/v1/blobs/photos/cat.jpg", ""},
		{"GET", "/api/v1/functions/cat", ""},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		h := http.Header{}
		setBlobDownload(h, r)
		if got := h.Get("Content-Disposition"); got != c.want {
			t.Errorf("%s %s: Content-Disposition %q, want %q", c.method, c.path, got, c.want)
		}
	}
}
