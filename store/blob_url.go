package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// blobURLKeyName is the app_secrets row holding the HMAC key of signed
// blob URLs: one key for every node, surviving restarts.
const blobURLKeyName = "blob_url_hmac"

// BlobURLKey returns the HMAC key of signed blob URLs, creating it on
// first use.
func (s *Store) BlobURLKey(ctx context.Context) ([]byte, error) {
	return s.AppSecret(ctx, blobURLKeyName, func() []byte {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k
	})
}

// BlobPath is the API path of a blob: /api/v1/blobs/BUCKET/KEY with the
// key's bytes escaped as a path (slashes kept).
func BlobPath(bucket, key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/api/v1/blobs/" + bucket + "/" + strings.Join(parts, "/")
}

// blobSig is the signature of a GET of bucket/key until exp.
func blobSig(key []byte, bucket, blobKey string, exp int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "picloud-blob-v1\n%s\n%s\n%d", bucket, blobKey, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SignBlobURL returns the path and query of a URL that serves bucket/key
// without a token until exp: BlobPath + ?exp=UNIX&sig=HMAC.
func SignBlobURL(hmacKey []byte, bucket, key string, exp time.Time) string {
	e := exp.Unix()
	return BlobPath(bucket, key) + "?exp=" + strconv.FormatInt(e, 10) + "&sig=" + blobSig(hmacKey, bucket, key, e)
}

// CheckBlobURL verifies a signed URL's exp and sig for bucket/key at now:
// nil when valid, else an error saying why (expired or bad signature).
func CheckBlobURL(hmacKey []byte, bucket, key, exp, sig string, now time.Time) error {
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return fmt.Errorf("signed URL has a malformed exp")
	}
	want := blobSig(hmacKey, bucket, key, e)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return fmt.Errorf("signed URL signature does not match this blob")
	}
	if now.Unix() >= e {
		return fmt.Errorf("signed URL expired at %s", time.Unix(e, 0).UTC().Format(time.RFC3339))
	}
	return nil
}
