package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/picloud/picloud/api"
)

// TestE2E_DeployIsByteExact: a script holding every byte 0x80-0xFF (not
// UTF-8) and a NUL inside a string literal runs as written, and the
// sha256 the server shows is the file's.
func TestE2E_DeployIsByteExact(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	lit := []byte{0}
	for c := 0x80; c <= 0xFF; c++ {
		lit = append(lit, byte(c))
	}
	src := "local s = \"" + string(lit) + "\"\n" +
		"function handle(req)\n  if req.query.raw then return s end\n  return tostring(#s)\nend\n"
	file := b.script("bytes.lua", src)
	b.ok("deploy", file)

	b.wantInvoke("bytes", strconv.Itoa(len(lit)))
	if out := b.ok("invoke", "bytes?raw=1"); out != string(lit) {
		t.Fatalf("the function's string is %q, want %q", out, lit)
	}

	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	want := hex.EncodeToString(sum[:])
	var vl api.VersionList
	b.okJSON(&vl, "versions", "bytes")
	if len(vl.Versions) != 1 || vl.Versions[0].SHA256 != want {
		t.Fatalf("versions --json = %+v, want sha256 %s (sha256sum of the file)", vl.Versions, want)
	}
	if out := b.ok("versions", "bytes"); !strings.Contains(out, want[:12]) {
		t.Fatalf("versions does not show sha256 %s…: %q", want[:12], out)
	}
	// The API gives the stored source back byte for byte.
	tok, err := os.ReadFile(filepath.Join(b.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, b.url+"/api/v1/functions/bytes?source=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f api.Function
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.SourceBase64, raw) {
		t.Fatalf("GET ?source=1: source_base64 is %q, want the file %q", f.SourceBase64, raw)
	}
}
