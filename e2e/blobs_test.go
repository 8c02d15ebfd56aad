package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/internal/e2etest"
	"github.com/picloud/picloud/store/storetest"
)

// blobFlags are the serve flags of the blob tests: small limits, and a
// sweeper fast enough to watch.
var blobFlags = []string{"--log-level", "debug", "--blob-max-size", "4MiB", "--blob-bucket-quota", "6MiB",
	"--blob-sweep-interval", "200ms", "--blob-sweep-grace", "2s"}

// blobNode is a node of its own database with blobFlags, and a connection
// to look at the tables.
type blobNode struct {
	*e2etest.Node
	db *pgx.Conn
}

func startBlobNode(t *testing.T) *blobNode {
	t.Helper()
	need(t)
	dbURL := storetest.NewDB(t)
	n := e2etest.Start(t, e2etest.Config{DatabaseURL: dbURL, DataDir: filepath.Join(t.TempDir(), "data"), Args: blobFlags})
	db, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return &blobNode{Node: n, db: db}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// count runs a count query.
func (bn *blobNode) count(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := bn.db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitCount polls a count query until it is want.
func (bn *blobNode) waitCount(t *testing.T, want int64, q string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := bn.count(t, q, args...)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", q, n, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// partialUpload sends the headers of a PUT of size bytes and the first
// sent bytes of body, then returns the open connection.
func partialUpload(t *testing.T, base, path, token string, size int, sent []byte) net.Conn {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", path, u.Host, token, size)
	if _, err := c.Write(sent); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBlobs_HTTP(t *testing.T) {
	bn := startBlobNode(t)
	admin := bn.Admin
	data := randomBytes(t, 3<<20+12345) // four chunks, the last one short
	r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: admin, Body: data,
		Header: map[string]string{"Content-Type": "image/jpeg"}})
	if r.Status != 200 {
		t.Fatalf("put: %d %s", r.Status, r.Body)
	}
	etag := `"` + sha(data) + `"`
	if r.Header.Get("ETag") != etag {
		t.Fatalf("put ETag %q, want %q", r.Header.Get("ETag"), etag)
	}

	t.Run("GetStreamsTheSameBytesWithTypeAndETag", func(t *testing.T) {
		r := bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: admin})
		if r.Status != 200 || !bytes.Equal(r.Body, data) {
			t.Fatalf("get: %d, %d bytes, equal=%v", r.Status, len(r.Body), bytes.Equal(r.Body, data))
		}
		if r.Header.Get("Content-Type") != "image/jpeg" || r.Header.Get("ETag") != etag {
			t.Fatalf("get headers: %v", r.Header)
		}
	})
	t.Run("HeadHasTheHeadersAndNoBody", func(t *testing.T) {
		r := bn.Do(t, req{Method: "HEAD", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: admin})
		if r.Status != 200 || len(r.Body) != 0 || r.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
			t.Fatalf("head: %d %v body %d", r.Status, r.Header, len(r.Body))
		}
	})
	t.Run("RangeAcrossAChunkBoundary", func(t *testing.T) {
		for _, c := range []struct {
			rng        string
			start, end int // inclusive
		}{
			{"bytes=1048570-1048585", 1048570, 1048585},
			{"bytes=-10", len(data) - 10, len(data) - 1},
			{fmt.Sprintf("bytes=%d-", len(data)-3), len(data) - 3, len(data) - 1},
		} {
			r := bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: admin, Header: map[string]string{"Range": c.rng}})
			want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, len(data))
			if r.Status != 206 || r.Header.Get("Content-Range") != want || !bytes.Equal(r.Body, data[c.start:c.end+1]) {
				t.Fatalf("%s: %d %q (want %q), %d bytes", c.rng, r.Status, r.Header.Get("Content-Range"), want, len(r.Body))
			}
		}
		r := bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: admin,
			Header: map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(data))}})
		if _, code := r.ErrorBody(t); r.Status != 416 || code != "range_not_satisfiable" || r.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(data)) {
			t.Fatalf("past the end: %d %s %v", r.Status, r.Body, r.Header)
		}
	})
	t.Run("IfNoneMatchAnswers304", func(t *testing.T) {
		r := bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: admin, Header: map[string]string{"If-None-Match": etag}})
		if r.Status != 304 || len(r.Body) != 0 {
			t.Fatalf("If-None-Match: %d, %d bytes", r.Status, len(r.Body))
		}
		r = bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: admin, Header: map[string]string{"If-None-Match": `"other"`}})
		if r.Status != 200 {
			t.Fatalf("If-None-Match of another etag: %d", r.Status)
		}
	})
	t.Run("EmptyBlob", func(t *testing.T) {
		if r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/photos/empty", Token: admin, Body: []byte{}}); r.Status != 200 {
			t.Fatalf("put empty: %d %s", r.Status, r.Body)
		}
		r := bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos/empty", Token: admin})
		if r.Status != 200 || len(r.Body) != 0 || r.Header.Get("ETag") != `"`+sha(nil)+`"` {
			t.Fatalf("get empty: %d %d %v", r.Status, len(r.Body), r.Header)
		}
	})
	t.Run("ListByPrefixInPages", func(t *testing.T) {
		for _, k := range []string{"2024/dog.jpg", "2025/x"} {
			if r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/photos/" + k, Token: admin, Body: "x"}); r.Status != 200 {
				t.Fatalf("put %s: %d", k, r.Status)
			}
		}
		var keys []string
		cursor := ""
		for range 5 {
			r := bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos?prefix=2024/&limit=1&cursor=" + cursor, Token: admin})
			var page struct {
				Blobs []struct {
					Key  string `json:"key"`
					Size int64  `json:"size"`
				} `json:"blobs"`
				Next string `json:"next_cursor"`
			}
			r.JSON(t, &page)
			for _, b := range page.Blobs {
				keys = append(keys, b.Key)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		if strings.Join(keys, ",") != "2024/cat.jpg,2024/dog.jpg" {
			t.Fatalf("listed %v", keys)
		}
	})
	t.Run("DeleteThen404", func(t *testing.T) {
		if r := bn.Do(t, req{Method: "DELETE", Path: "/api/v1/blobs/photos/2025/x", Token: admin}); r.Status != 204 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		for _, m := range []string{"GET", "DELETE"} {
			if r := bn.Do(t, req{Method: m, Path: "/api/v1/blobs/photos/2025/x", Token: admin}); r.Status != 404 {
				t.Fatalf("%s after delete: %d %s", m, r.Status, r.Body)
			}
		}
	})
	t.Run("BadNamesAndScopes", func(t *testing.T) {
		r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/Photos_1/x", Token: admin, Body: "x"})
		if msg, _ := r.ErrorBody(t); r.Status != 400 || !strings.Contains(msg, "bucket name") {
			t.Fatalf("bad bucket: %d %s", r.Status, r.Body)
		}
		r = bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/photos/a%01b", Token: admin, Body: "x"})
		if msg, _ := r.ErrorBody(t); r.Status != 400 || !strings.Contains(msg, "control character") {
			t.Fatalf("bad key: %d %s", r.Status, r.Body)
		}
		if r := bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos/2024/cat.jpg"}); r.Status != 401 {
			t.Fatalf("get without a token: %d", r.Status)
		}
		tr := bn.Do(t, req{Method: "POST", Path: "/api/v1/tokens", Token: admin, Body: map[string]any{"name": "reader", "scopes": []string{"read"}}})
		var tok struct {
			Token string `json:"secret"`
		}
		tr.JSON(t, &tok)
		if r := bn.Do(t, req{Method: "GET", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: tok.Token}); r.Status != 200 {
			t.Fatalf("get with read: %d", r.Status)
		}
		for _, m := range []string{"PUT", "DELETE"} {
			r := bn.Do(t, req{Method: m, Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: tok.Token, Body: "x"})
			if msg, _ := r.ErrorBody(t); r.Status != 403 || !strings.Contains(msg, "blobs scope") {
				t.Fatalf("%s with read only: %d %s", m, r.Status, r.Body)
			}
		}
	})
	t.Run("OverTheMaximumIs413", func(t *testing.T) {
		big := randomBytes(t, 4<<20+1)
		r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/other/big", Token: admin, Body: big})
		if msg, code := r.ErrorBody(t); r.Status != 413 || code != "body_too_large" || !strings.Contains(msg, "--blob-max-size") {
			t.Fatalf("over the maximum: %d %s", r.Status, r.Body)
		}
		// Without a Content-Length the bound holds while streaming.
		hr, _ := http.NewRequest("PUT", bn.URL+"/api/v1/blobs/other/big", struct{ *bytes.Reader }{bytes.NewReader(big)})
		hr.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("chunked over the maximum: %d", resp.StatusCode)
		}
		if r := bn.Do(t, req{Method: "HEAD", Path: "/api/v1/blobs/other/big", Token: admin}); r.Status != 404 {
			t.Fatalf("a refused blob is visible: %d", r.Status)
		}
	})
	t.Run("OverTheBucketQuotaIs507", func(t *testing.T) {
		// photos holds 3 MiB + a bit; the quota is 6 MiB.
		r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/photos/more", Token: admin, Body: randomBytes(t, 3<<20)})
		if msg, code := r.ErrorBody(t); r.Status != 507 || code != "quota_exceeded" || !strings.Contains(msg, "--blob-bucket-quota") {
			t.Fatalf("over the quota: %d %s", r.Status, r.Body)
		}
		// Replacing a blob counts its new size only.
		if r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/photos/2024/cat.jpg", Token: admin, Body: data}); r.Status != 200 {
			t.Fatalf("replace within the quota: %d %s", r.Status, r.Body)
		}
	})
	t.Run("SignedURL", func(t *testing.T) {
		var u struct {
			URL string `json:"url"`
		}
		r := bn.Do(t, req{Method: "POST", Path: "/api/v1/blob-urls", Token: admin, Body: map[string]any{"bucket": "photos", "key": "2024/cat.jpg", "expires": "1h"}})
		r.JSON(t, &u)
		if r := bn.Do(t, req{Method: "GET", Path: u.URL}); r.Status != 200 || !bytes.Equal(r.Body, data) {
			t.Fatalf("signed URL without a token: %d %d bytes", r.Status, len(r.Body))
		}
		for name, bad := range map[string]string{
			"other key": strings.Replace(u.URL, "cat.jpg", "dog.jpg", 1),
			"later exp": strings.Replace(u.URL, "exp=", "exp=9", 1),
			"bad sig":   u.URL[:len(u.URL)-2] + "AA",
		} {
			r := bn.Do(t, req{Method: "GET", Path: bad})
			if msg, _ := r.ErrorBody(t); r.Status != 403 || !strings.Contains(msg, "signature") {
				t.Fatalf("tampered (%s): %d %s", name, r.Status, r.Body)
			}
		}
		r = bn.Do(t, req{Method: "POST", Path: "/api/v1/blob-urls", Token: admin, Body: map[string]any{"bucket": "photos", "key": "2024/cat.jpg", "expires": "1s"}})
		r.JSON(t, &u)
		time.Sleep(2100 * time.Millisecond) // the expiry has a resolution of a second
		if r := bn.Do(t, req{Method: "GET", Path: u.URL}); r.Status != 403 || !strings.Contains(string(r.Body), "expired") {
			t.Fatalf("expired: %d %s", r.Status, r.Body)
		}
	})
	t.Run("InterruptedUploadLeavesNothingAndItsChunksGo", func(t *testing.T) {
		c := partialUpload(t, bn.URL, "/api/v1/blobs/uploads/cut", admin, 3<<20, randomBytes(t, 2<<20+100))
		// The first two chunks reach the database, then the client goes.
		bn.waitCount(t, 2, `SELECT count(*) FROM blob_chunks c JOIN blob_chunksets s ON s.id = c.chunkset WHERE s.key = 'cut'`)
		c.Close()
		bn.waitCount(t, 0, `SELECT count(*) FROM blob_chunksets WHERE key = 'cut'`)
		bn.waitCount(t, 0, `SELECT count(*) FROM blob_chunks c WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.chunkset = c.chunkset)
			AND NOT EXISTS (SELECT 1 FROM blob_chunksets s WHERE s.id = c.chunkset)`)
		if r := bn.Do(t, req{Method: "HEAD", Path: "/api/v1/blobs/uploads/cut", Token: admin}); r.Status != 404 {
			t.Fatalf("an interrupted upload is visible: %d", r.Status)
		}
	})
	t.Run("ReplacedAndDeletedChunksAreSwept", func(t *testing.T) {
		// Only the live blobs' chunks remain once the grace has passed.
		bn.waitCount(t, 0, `SELECT count(*) FROM blob_chunksets`)
		bn.waitCount(t, bn.count(t, `SELECT coalesce(sum(ceil(size::numeric / chunk_size)), 0)::bigint FROM blobs`),
			`SELECT count(*) FROM blob_chunks`)
	})
}

func TestBlobs_LuaModule(t *testing.T) {
	bn := startBlobNode(t)
	src := `function handle(req)
  local op = req.query.op
  if op == "own" then
    local m = blobs.put("lua-fn", "notes/a.txt", "hello", {content_type = "text/plain"})
    local d, meta = blobs.get("lua-fn", "notes/a.txt")
    local items, nxt = blobs.list("lua-fn", "notes/")
    local h = blobs.head("lua-fn", "notes/a.txt")
    return {etag = m.etag, data = d, ctype = meta.content_type, size = meta.size, n = #items, first = items[1].key,
      more = nxt ~= nil, head = h.size, missing = blobs.get("lua-fn", "nope") == nil, url = blobs.url("lua-fn", "notes/a.txt", 60)}
  elseif op == "delete" then
    return {first = blobs.delete("lua-fn", "notes/a.txt"), again = blobs.delete("lua-fn", "notes/a.txt")}
  elseif op == "read-photos" then
    local d, meta = blobs.get("photos", "p.txt")
    return {data = d, etag = meta.etag}
  elseif op == "write-photos" then
    blobs.put("photos", "q.txt", "x")
  elseif op == "write-shared" then
    blobs.put("shared", "q.txt", "x")
    return "ok"
  elseif op == "other" then
    blobs.get("secret-stuff", "k")
  end
end`
	bn.Deploy(t, map[string]any{"name": "lua-fn", "source": src, "blobs": []string{"photos:r", "shared:rw"}})
	if r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/blobs/photos/p.txt", Token: bn.Admin, Body: "from http"}); r.Status != 200 {
		t.Fatalf("put: %d", r.Status)
	}
	call := func(op string) (int, map[string]any, string) {
		r := bn.Do(t, req{Method: "GET", Path: "/fn/lua-fn?op=" + op})
		var m map[string]any
		if r.Status == 200 && r.Header.Get("Content-Type") == "application/json" {
			r.JSON(t, &m)
		}
		return r.Status, m, string(r.Body)
	}

	st, m, body := call("own")
	if st != 200 || m["data"] != "hello" || m["ctype"] != "text/plain" || m["size"] != 5.0 || m["n"] != 1.0 ||
		m["first"] != "notes/a.txt" || m["more"] != false || m["head"] != 5.0 || m["missing"] != true || m["etag"] != sha([]byte("hello")) {
		t.Fatalf("own bucket: %d %s", st, body)
	}
	// What Lua signed serves the blob over HTTP without a token.
	if r := bn.Do(t, req{Method: "GET", Path: m["url"].(string)}); r.Status != 200 || string(r.Body) != "hello" {
		t.Fatalf("blobs.url: %d %s", r.Status, r.Body)
	}
	if st, m, body := call("delete"); st != 200 || m["first"] != true || m["again"] != false {
		t.Fatalf("delete: %d %s", st, body)
	}
	if st, m, body := call("read-photos"); st != 200 || m["data"] != "from http" || m["etag"] != sha([]byte("from http")) {
		t.Fatalf("granted read: %d %s", st, body)
	}
	if st, _, body := call("write-shared"); st != 200 || body != "ok" {
		t.Fatalf("granted write: %d %s", st, body)
	}
	for op, want := range map[string]string{
		"write-photos": "may not write bucket photos",
		"other":        "may not read bucket secret-stuff",
	} {
		st, _, body := call(op)
		if st != 500 || !strings.Contains(body, want) || !strings.Contains(body, "picloud deploy --blobs") {
			t.Fatalf("%s: %d %s", op, st, body)
		}
	}
	// Grants belong to the version: a redeploy with none takes them away.
	r := bn.Do(t, req{Method: "PUT", Path: "/api/v1/functions/lua-fn", Token: bn.Admin, Body: map[string]any{"source": src, "blobs": []string{}}})
	if r.Status != 200 {
		t.Fatalf("redeploy: %d %s", r.Status, r.Body)
	}
	if st, _, body := call("read-photos"); st != 500 || !strings.Contains(body, "may not read bucket photos") {
		t.Fatalf("read after the grant was dropped: %d %s", st, body)
	}
	r = bn.Do(t, req{Method: "PUT", Path: "/api/v1/functions/lua-fn", Token: bn.Admin, Body: map[string]any{"source": src, "blobs": []string{"photos:x"}}})
	if msg, _ := r.ErrorBody(t); r.Status != 422 || !strings.Contains(msg, "bucket:rw") {
		t.Fatalf("bad grant: %d %s", r.Status, r.Body)
	}
}

// TestBlobs_KilledServerMidUploadIsSwept kills `picloud serve` with
// SIGKILL in the middle of an upload: after a restart nothing is visible
// and the sweeper deletes the orphaned chunks.
func TestBlobs_KilledServerMidUploadIsSwept(t *testing.T) {
	bn := startBlobNode(t)
	c := partialUpload(t, bn.URL, "/api/v1/blobs/photos/killed", bn.Admin, 4<<20, randomBytes(t, 3<<20+100))
	defer c.Close()
	q := `SELECT count(*) FROM blob_chunks c JOIN blob_chunksets s ON s.id = c.chunkset WHERE s.key = 'killed'`
	bn.waitCount(t, 3, q)
	bn.Kill()
	before := bn.count(t, `SELECT pg_total_relation_size('blob_chunks')`)
	if n := bn.count(t, `SELECT count(*) FROM blobs WHERE key = 'killed'`); n != 0 {
		t.Fatalf("the killed upload is visible")
	}
	n2 := e2etest.Start(t, bn.Config())
	bn.waitCount(t, 0, q)
	bn.waitCount(t, 0, `SELECT count(*) FROM blob_chunks`)
	if _, err := bn.db.Exec(context.Background(), `VACUUM FULL blob_chunks`); err != nil {
		t.Fatal(err)
	}
	after := bn.count(t, `SELECT pg_total_relation_size('blob_chunks')`)
	t.Logf("pg_total_relation_size('blob_chunks'): %d bytes after the kill, %d after the sweep (and VACUUM FULL)", before, after)
	if after >= before {
		t.Fatalf("no space reclaimed: %d -> %d", before, after)
	}
	if r := n2.Do(t, req{Method: "HEAD", Path: "/api/v1/blobs/photos/killed", Token: bn.Admin}); r.Status != 404 {
		t.Fatalf("after the restart: %d", r.Status)
	}
}
