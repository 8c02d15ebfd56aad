package worker

import (
	"strings"
	"testing"
)

func TestBlobs_LuaModuleOnMemoryHost(t *testing.T) {
	ts := newTestServer(t, defaultSpec(`function handle(req)
  if req.path == "/own" then
    local m = blobs.put("t", "a/1", "hi", {content_type = "text/plain"})
    local d, meta = blobs.get("t", "a/1")
    local items, nxt = blobs.list("t", "a/")
    return table.concat({d, meta.content_type, tostring(meta.size), m.etag:sub(1, 8), tostring(#items), tostring(nxt),
      tostring(blobs.get("t", "missing")), tostring(blobs.delete("t", "a/1")), tostring(blobs.head("t", "a/1"))}, " ")
  elseif req.path == "/granted" then
    return blobs.get("shared", "k") or "none"
  elseif req.path == "/refused" then
    blobs.put("shared", "k", "x")
  elseif req.path == "/big" then
    blobs.put("t", "big", string.rep("x", 8 * 1024 * 1024) .. "y")
  elseif req.path == "/badopts" then
    blobs.put("t", "k", "x", "text/plain")
  end
end`))
	ts.host.GrantBlobs("t", "shared:r")
	if got, want := ts.body(path("/own")), "hi text/plain 2 8f434346 1 nil nil true nil"; got != want {
		t.Fatalf("own bucket: %q, want %q", got, want)
	}
	if got := ts.body(path("/granted")); got != "none" {
		t.Fatalf("granted read: %q", got)
	}
	for p, want := range map[string]string{
		"/refused": "blobs.put: bucket shared is not granted",
		"/big":     "upload bigger blobs with the HTTP API",
		"/badopts": "options must be a table",
	} {
		_, ce := ts.call(path(p))
		if ce == nil || !strings.Contains(ce.Message, want) {
			t.Fatalf("%s: %v, want an error with %q", p, ce, want)
		}
	}
}
