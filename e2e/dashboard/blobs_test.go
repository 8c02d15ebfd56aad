package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// pickFile puts a file of that name, type and content into the page's
// #blob-file input, as choosing it would.
func pickFile(t *testing.T, ctx context.Context, name, ctype, content string) {
	t.Helper()
	eval[bool](t, ctx, fmt.Sprintf(`(() => { const dt = new DataTransfer();
		dt.items.add(new File([%s], %s, { type: %s }));
		const in_ = document.querySelector('#blob-file'); in_.files = dt.files;
		in_.dispatchEvent(new Event('change')); return true })()`, js(content), js(name), js(ctype)))
}

// blobRow is the JavaScript expression of the listing's row of key.
func blobRow(key string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#blobs tbody tr')].find((tr) => tr.dataset.key === %s)`, js(key))
}

// download fetches the row's download link in the page (the session's
// cookie) and returns the status, body and headers that matter.
type download struct {
	Status                        int
	Body, Disposition, CSP, Sniff string
}

func fetchDownload(t *testing.T, ctx context.Context, key string) download {
	t.Helper()
	raw := eval[string](t, ctx, fmt.Sprintf(`(async () => { const a = %s.querySelector('a.blob-download');
		const r = await fetch(a.href, { credentials: 'same-origin' });
		return JSON.stringify({ status: r.status, body: await r.text(), disposition: r.headers.get('content-disposition') || '',
			csp: r.headers.get('content-security-policy') || '', sniff: r.headers.get('x-content-type-options') || '' }) })()`, blobRow(key)))
	var d download
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("download %s: %v (%s)", key, err, raw)
	}
	return d
}

// TestDashboard_BlobBrowser walks the Blobs page in Chromium: an admin
// lists a bucket, uploads a file through the page, sees it listed,
// downloads it with the session (as an attachment, sandboxed), uploads an
// HTML blob whose key is markup (shown as text, nothing runs), pages a
// bucket of 55 blobs with More, and deletes a blob; a read session sees
// no upload or delete control and the API refuses its upload.
func TestDashboard_BlobBrowser(t *testing.T) {
	ctx := browser(t)
	signIn(t, ctx, srv.admin)

	// Enter a bucket name: an empty listing with the upload form.
	page(t, ctx, "/blobs")
	do(t, ctx, "list a bucket", chromedp.SendKeys("#blob-bucket", "dash-files"), chromedp.Click("#blob-list"))
	waitFor(t, ctx, "the empty listing", `(document.querySelector('#blob-count')||{}).textContent === 'No blobs in this bucket.'`)

	// A bad bucket name: the API's message, and the form stays.
	page(t, ctx, "/blobs?bucket=Bad_Name")
	waitFor(t, ctx, "the bucket error", `!!document.querySelector('#blob-bucket') && document.querySelector('main .error').textContent !== ''`)
	t.Logf("bad bucket: %q", text(t, ctx, "main .error"))
	if !strings.Contains(text(t, ctx, "main .error"), "bucket") {
		t.Errorf("bad bucket error = %q, want it to name the bucket", text(t, ctx, "main .error"))
	}
	page(t, ctx, "/blobs?bucket=dash-files")
	waitFor(t, ctx, "the empty listing", `(document.querySelector('#blob-count')||{}).textContent === 'No blobs in this bucket.'`)

	// Upload through the page: the key defaults to the file's name.
	const hello = "hello blobs\n"
	pickFile(t, ctx, "hello.txt", "text/plain", hello)
	if got := eval[string](t, ctx, `document.querySelector('#blob-key').value`); got != "hello.txt" {
		t.Errorf("key after choosing hello.txt = %q", got)
	}
	do(t, ctx, "upload", chromedp.Click("#blob-upload"))
	waitFor(t, ctx, "the upload", `document.querySelector('#blob-status').textContent.startsWith('Uploaded hello.txt')`)
	st, b := call(t, "GET", srv.api+"/api/v1/blobs/dash-files/hello.txt", bearer(srv.admin), nil)
	if st != 200 || string(b) != hello {
		t.Fatalf("after the upload the API answers %d %q", st, b)
	}

	// A 3 MiB upload reports its progress as it goes.
	eval[bool](t, ctx, `(() => { window.__progress = [];
		new MutationObserver(() => window.__progress.push(document.querySelector('#blob-status').textContent))
			.observe(document.querySelector('#blob-status'), { childList: true, characterData: true, subtree: true }); return true })()`)
	eval[bool](t, ctx, `(() => { const dt = new DataTransfer(); dt.items.add(new File(['x'.repeat(3 << 20)], 'big.bin'));
		const f = document.querySelector('#blob-file'); f.files = dt.files; f.dispatchEvent(new Event('change')); return true })()`)
	do(t, ctx, "upload 3 MiB", chromedp.Click("#blob-upload"))
	waitFor(t, ctx, "the big upload", `document.querySelector('#blob-status').textContent === 'Uploaded big.bin (3.0 MiB).'`)
	progress := eval[[]string](t, ctx, `window.__progress`)
	t.Logf("progress shown: %q", progress)
	if !slices.ContainsFunc(progress, func(s string) bool { return strings.HasSuffix(s, " of 3.0 MiB") }) {
		t.Errorf("no upload progress shown: %q", progress)
	}

	// Listed after a reload, with its size, type and short etag.
	page(t, ctx, "/blobs?bucket=dash-files")
	waitFor(t, ctx, "hello.txt listed", "!!"+blobRow("hello.txt"))
	cells := eval[[]string](t, ctx, fmt.Sprintf(`[...%s.cells].map((c) => c.textContent)`, blobRow("hello.txt")))
	t.Logf("row: %q", cells)
	if len(cells) < 5 || cells[1] != "12 B" || cells[2] != "text/plain" || len(cells[3]) != 12 {
		t.Errorf("hello.txt row = %q, want 12 B, text/plain and a 12-digit etag", cells)
	}

	// Download with the session: the bytes, as an attachment, sandboxed.
	d := fetchDownload(t, ctx, "hello.txt")
	if d.Status != 200 || d.Body != hello {
		t.Errorf("download: %d %q, want 200 %q", d.Status, d.Body, hello)
	}
	if d.Disposition != `attachment; filename=hello.txt` || d.Sniff != "nosniff" || !strings.Contains(d.CSP, "sandbox") {
		t.Errorf("download headers: Content-Disposition %q, nosniff %q, CSP %q", d.Disposition, d.Sniff, d.CSP)
	}

	// A key that is markup, of an HTML blob: text in the page, nothing
	// runs, and its download is an attachment too.
	const evilKey = `<img src=x onerror=window.__xss=1>.html`
	pickFile(t, ctx, "evil.html", "text/html", `<script>parent.__xss=2</script>`)
	eval[bool](t, ctx, fmt.Sprintf(`(document.querySelector('#blob-key').value = %s, true)`, js(evilKey)))
	do(t, ctx, "upload the evil key", chromedp.Click("#blob-upload"))
	waitFor(t, ctx, "the evil upload", `document.querySelector('#blob-status').textContent.startsWith('Uploaded <img')`)
	page(t, ctx, "/blobs?bucket=dash-files")
	waitFor(t, ctx, "the evil key listed", "!!"+blobRow(evilKey))
	if got := eval[string](t, ctx, blobRow(evilKey)+`.querySelector('.blob-key').textContent`); got != evilKey {
		t.Errorf("the evil key shows as %q", got)
	}
	if present(t, ctx, "main img") || eval[bool](t, ctx, `window.__xss !== undefined`) {
		t.Error("a blob key was rendered as HTML")
	}
	d = fetchDownload(t, ctx, evilKey)
	if d.Status != 200 || d.Body != `<script>parent.__xss=2</script>` || !strings.HasPrefix(d.Disposition, "attachment") || !strings.Contains(d.CSP, "sandbox") {
		t.Errorf("evil download: %d %q, Content-Disposition %q, CSP %q", d.Status, d.Body, d.Disposition, d.CSP)
	}
	shot(t, ctx, "blobs")

	// Paging: 55 blobs under many/, 50 a page, More for the rest.
	for i := 0; i < 55; i++ {
		hdr := bearer(srv.admin)
		hdr["Content-Type"] = "application/octet-stream"
		if st, b := call(t, "PUT", fmt.Sprintf("%s/api/v1/blobs/dash-files/many/k%02d", srv.api, i), hdr, "x"); st != 200 {
			t.Fatalf("put many/k%02d: %d %s", i, st, b)
		}
	}
	page(t, ctx, "/blobs?bucket=dash-files&prefix=many/")
	waitFor(t, ctx, "the first page", `document.querySelectorAll('#blobs tbody tr').length === 50`)
	if present(t, ctx, "#blob-more[hidden]") {
		t.Fatal("55 blobs and no More button")
	}
	do(t, ctx, "more", chromedp.Click("#blob-more"))
	waitFor(t, ctx, "the second page", `document.querySelectorAll('#blobs tbody tr').length === 55 && document.querySelector('#blob-more').hidden`)
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#blobs tbody tr')].map((tr) => tr.dataset.key).join(',').slice(-17)`); got != "many/k53,many/k54" {
		t.Errorf("last keys after More = %q", got)
	}

	// Delete, after the confirmation.
	page(t, ctx, "/blobs?bucket=dash-files")
	waitFor(t, ctx, "hello.txt listed", "!!"+blobRow("hello.txt"))
	eval[bool](t, ctx, `(window.confirm = (m) => { window.__asked = m; return true }, true)`)
	eval[bool](t, ctx, blobRow("hello.txt")+`.querySelector('.blob-delete').click() || true`)
	waitFor(t, ctx, "the row gone", "!"+blobRow("hello.txt"))
	if asked := eval[string](t, ctx, `window.__asked || ''`); asked != "Delete dash-files/hello.txt? This cannot be undone." {
		t.Errorf("confirmation asked %q", asked)
	}
	if st, _ := call(t, "GET", srv.api+"/api/v1/blobs/dash-files/hello.txt", bearer(srv.admin), nil); st != 404 {
		t.Errorf("after delete the blob answers %d, want 404", st)
	}

	// A read session: downloads, but no upload or delete control; the API
	// refuses its upload anyway.
	var viewer struct{ Secret string }
	st, b = call(t, "POST", srv.api+"/api/v1/tokens", bearer(srv.admin), map[string]any{"name": "blob-viewer", "scopes": []string{"read"}})
	if err := json.Unmarshal(b, &viewer); err != nil || st != 201 {
		t.Fatalf("create a read token: %d %s", st, b)
	}
	// A token with read and blobs, made on the tokens page: its session
	// uploads and deletes without being admin.
	page(t, ctx, "/access")
	do(t, ctx, "create a blobs token", chromedp.SendKeys("#tok-name", "blob-writer"), chromedp.Click("#scope-blobs"), chromedp.Click("#create-token"))
	waitFor(t, ctx, "the new secret", `!!document.querySelector('#new-secret')`)
	writer := text(t, ctx, "#new-secret")
	do(t, ctx, "sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#token"))
	signIn(t, ctx, writer)
	page(t, ctx, "/blobs?bucket=dash-files")
	waitFor(t, ctx, "the evil key listed", "!!"+blobRow(evilKey))
	if !present(t, ctx, "#blob-upload") || !present(t, ctx, ".blob-delete") {
		t.Error("a read+blobs session has no upload or delete control")
	}

	do(t, ctx, "sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#token"))
	signIn(t, ctx, viewer.Secret)
	page(t, ctx, "/blobs?bucket=dash-files")
	waitFor(t, ctx, "the evil key listed", "!!"+blobRow(evilKey))
	if present(t, ctx, "#blob-upload") || present(t, ctx, "#blob-file") || present(t, ctx, ".blob-delete") {
		t.Error("a read session sees the upload or delete controls")
	}
	if !present(t, ctx, "a.blob-download") {
		t.Error("a read session has no download link")
	}
	if st := eval[int](t, ctx, `fetch('/api/v1/blobs/dash-files/sneaky.txt', { method: 'PUT', body: 'x' }).then((r) => r.status)`); st != 403 {
		t.Errorf("a read session's upload answered %d, want 403", st)
	}
	if st := eval[int](t, ctx, `fetch('/api/v1/blobs/dash-files/many/k00', { method: 'DELETE' }).then((r) => r.status)`); st != 403 {
		t.Errorf("a read session's delete answered %d, want 403", st)
	}
	shot(t, ctx, "blobs-read")
}
