package cli

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_BlobCommandsRoundTripAFile drives picloud blob put, ls, get,
// cat, url and rm against a real server, with --progress forced on.
func TestCLI_BlobCommandsRoundTripAFile(t *testing.T) {
	b := startServer(t)
	data := make([]byte, 2<<20+7)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(b.work, "photo.jpg")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := b.cli(nil, "", "blob", "put", "photos/2024/photo.jpg", src, "--progress")
	if r.code != 0 || !strings.Contains(r.stdout, "2097159 bytes, image/jpeg") || !strings.Contains(r.stderr, "upload [") {
		t.Fatalf("put: exit %d\nstdout %s\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if out := b.ok("blob", "ls", "photos/2024/"); !strings.Contains(out, "2024/photo.jpg  2097159  image/jpeg") {
		t.Fatalf("ls: %s", out)
	}
	dst := filepath.Join(b.work, "copy.jpg")
	r = b.cli(nil, "", "blob", "get", "photos/2024/photo.jpg", dst, "--progress")
	got, err := os.ReadFile(dst)
	if r.code != 0 || err != nil || !bytes.Equal(got, data) || !strings.Contains(r.stderr, "download [") {
		t.Fatalf("get: exit %d, %v, equal=%v\nstderr %q", r.code, err, bytes.Equal(got, data), r.stderr)
	}
	if out := b.cli(nil, "", "blob", "cat", "photos/2024/photo.jpg"); out.code != 0 || out.stdout != string(data) {
		t.Fatalf("cat: exit %d, %d bytes", out.code, len(out.stdout))
	}
	if r := b.cli(nil, "hello", "blob", "put", "notes/a.txt", "-"); r.code != 0 {
		t.Fatalf("put from stdin: %d %s", r.code, r.stderr)
	}
	u := strings.TrimSpace(b.ok("blob", "url", "notes/a.txt", "--expires", "10m"))
	resp, err := http.Get(u) // no token
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 5 {
		t.Fatalf("signed URL %s: %s", u, resp.Status)
	}
	b.ok("blob", "rm", "notes/a.txt")
	if r := b.cli(nil, "", "blob", "rm", "notes/a.txt"); r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("rm again: %d %s", r.code, r.stderr)
	}
	if r := b.cli(nil, "", "blob", "get", "photos"); r.code != 2 || !strings.Contains(r.stderr, "BUCKET/KEY") {
		t.Fatalf("get without a key: %d %s", r.code, r.stderr)
	}
}
