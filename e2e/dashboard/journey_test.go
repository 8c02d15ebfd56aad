package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium (Debian's package) with a fresh
// profile and no background traffic, and returns its tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	if srv == nil {
		t.Skip(skipReason)
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make test-deps installs Debian's chromium package as root)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1440, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// artifacts is where screenshots go: $PICLOUD_ARTIFACTS/dashboard, else
// .picloud/artifacts/dashboard in the repository.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PICLOUD_ARTIFACTS")
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, ".picloud", "artifacts")
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// do runs browser actions, failing the test (with a screenshot) on error.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		if buf, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
			p := filepath.Join(artifacts(t), "failed.png")
			_ = os.WriteFile(p, buf, 0o644)
			t.Logf("screenshot of the failure: %s", p)
		}
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (promises awaited) into T.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	do(t, ctx, "wait for "+what, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// text is the textContent of the first element matching sel ("" if none).
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%s)||{}).textContent||""`, js(sel)))
}

// present says whether an element matches sel.
func present(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	return eval[bool](t, ctx, fmt.Sprintf(`!!document.querySelector(%s)`, js(sel)))
}

// setSource types src into the dashboard's editor.
func setSource(t *testing.T, ctx context.Context, src string) {
	t.Helper()
	eval[bool](t, ctx, fmt.Sprintf(`(() => { const ta = document.querySelector('#source'); ta.value = %s;
		ta.dispatchEvent(new Event('input')); return true })()`, js(src)))
}

// page navigates the dashboard to hash and waits for its page to render.
func page(t *testing.T, ctx context.Context, hash string) {
	t.Helper()
	// A full load each time (a new query): a hash alone may not reload.
	do(t, ctx, "open "+hash, chromedp.Navigate(fmt.Sprintf("%s/?load=%d#%s", srv.ui, time.Now().UnixNano(), hash)))
	route := strings.SplitN(hash, "?", 2)[0]
	waitFor(t, ctx, "page "+hash, fmt.Sprintf(`document.querySelector('main').dataset.page === %s`, js(route)))
}

// shot checks that every control of the page has a label, and saves a
// screenshot of it at 1440 and 360 px wide.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	unlabelled := eval[[]string](t, ctx, `[...document.querySelectorAll('input, select, textarea, button')]
		.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
		.map((e) => e.id || e.outerHTML.slice(0, 60))`)
	if len(unlabelled) > 0 {
		t.Errorf("page %s has controls without a label: %v", name, unlabelled)
	}
	for _, w := range []int64{1440, 360} {
		do(t, ctx, "resize", chromedp.EmulateViewport(w, 900), chromedp.Sleep(150*time.Millisecond))
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(artifacts(t), fmt.Sprintf("%s-%d.png", name, w))
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "resize", chromedp.EmulateViewport(1440, 900))
}

// signIn signs in on the sign-in page with token.
func signIn(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	// A full page load (a new query), so no earlier page's script races.
	do(t, ctx, "sign in", chromedp.Navigate(fmt.Sprintf("%s/?load=%d#/", srv.ui, time.Now().UnixNano())), chromedp.WaitVisible("#token"),
		chromedp.SendKeys("#token", token), chromedp.Click("#signin"))
	waitFor(t, ctx, "the overview", `document.querySelector('main').dataset.page === '/' && !!document.querySelector('#stat-workers')`)
}

// sessionCookie is the browser's dashboard cookie (HttpOnly: scripts
// cannot read it, the DevTools protocol can).
func sessionCookie(t *testing.T, ctx context.Context) *network.Cookie {
	t.Helper()
	cookies, err := chromedp.Run(ctx, chromedp.Action[[]*network.Cookie](func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.ui + "/"}})
		return r.Cookies, err
	}))
	if err != nil {
		t.Fatalf("get cookies: %v", err)
	}
	for _, c := range cookies {
		if c.Name == "picloud_session" {
			return c
		}
	}
	t.Fatalf("no picloud_session cookie among %d", len(cookies))
	return nil
}

const (
	badSource = "function handle(req)\n  log.info(\"start\")\n  local x = = 1\nend\n"
	// The log line carries markup that would run if rendered as HTML.
	goodSource = "function handle(req)\n" +
		"  log.info(\"<img src=x onerror=window.__xss=1> \" .. req.method .. \" \" .. req.path)\n" +
		"  return { status = 201, headers = { [\"content-type\"] = \"text/plain\" }, body = \"got \" .. req.body }\n" +
		"end\n"
	v2Source = "function handle(req)\n  return \"v2\"\nend\n"
)

// evilSource is a function whose page, served on the data plane's origin,
// tries to use the dashboard's session: read the tokens, create an admin
// token with a request that needs no preflight, and shows the cookies the
// function itself received.
func evilSource(ui string) string {
	script := `<script>
(async () => {
  const ui = ` + js(ui) + `;
  const r = {};
  try { const a = await fetch(ui + "/api/v1/tokens", {credentials: "include"}); r.read = "status " + a.status + " " + (await a.text()).slice(0, 60); }
  catch (e) { r.read = "blocked"; }
  try { await fetch(ui + "/api/v1/tokens", {method: "POST", mode: "no-cors", credentials: "include",
          body: JSON.stringify({name: "pwned", scopes: ["admin"]})}); r.write = "sent"; }
  catch (e) { r.write = "blocked"; }
  try { const a = await fetch("/api/v1/tokens", {credentials: "include"}); r.same = a.status; } catch (e) { r.same = "error"; }
  document.getElementById("out").textContent = JSON.stringify(r);
})();
</script>`
	return "function handle(req)\n" +
		"  return { status = 200, headers = { [\"content-type\"] = \"text/html\" },\n" +
		"    body = \"<!doctype html><title>evil</title><pre id=cookie>\" .. (req.headers.cookie or \"none\") .. \"</pre><pre id=out>running</pre>\" .. [==[" +
		script + "]==] }\nend\n"
}

// TestDashboard_Journey walks the dashboard in real Chromium: sign in,
// deploy with a syntax error then fixed, invoke from the console, an XSS
// payload in a log line and in an event shown as text, versions and
// rollback, a function page failing to use the admin's session, a read
// token without deploy controls, sign-out and revocation ending sessions.
func TestDashboard_Journey(t *testing.T) {
	ctx := browser(t)
	startAt := time.Now()

	// Sign in.
	do(t, ctx, "open the dashboard", chromedp.Navigate(srv.ui+"/"), chromedp.WaitVisible("#token"))
	shot(t, ctx, "signin")
	signIn(t, ctx, srv.admin)
	if eval[string](t, ctx, `document.cookie`) != "" {
		t.Errorf("page scripts can read a cookie: %q", eval[string](t, ctx, `document.cookie`))
	}
	c := sessionCookie(t, ctx)
	if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
		t.Errorf("session cookie HttpOnly=%v SameSite=%q, want HttpOnly and Strict", c.HTTPOnly, c.SameSite)
	}
	adminCookie := c.Value

	// Create a function with a syntax error: shown at its line, nothing saved.
	page(t, ctx, "/new")
	do(t, ctx, "name the function", chromedp.SendKeys("#fn-name", "greet"))
	setSource(t, ctx, badSource)
	do(t, ctx, "deploy", chromedp.Click("#deploy"))
	waitFor(t, ctx, "the syntax error", `document.querySelector('#deploy-error').textContent.includes('line 3')`)
	msg := text(t, ctx, "#deploy-error")
	t.Logf("syntax error shown: %q", msg)
	if !strings.Contains(msg, "syntax error at line 3, column 13") {
		t.Errorf("deploy error = %q, want it at line 3 with a column", msg)
	}
	if !present(t, ctx, ".gutter .bad") {
		t.Error("the editor's gutter does not mark the bad line")
	}
	shot(t, ctx, "function-syntax-error")
	if st, b := call(t, "GET", srv.api+"/api/v1/functions/greet", bearer(srv.admin), nil); st != 404 {
		t.Fatalf("after a syntax error the function exists: %d %s", st, b)
	}

	// A limit out of range is refused with the field named.
	do(t, ctx, "open the limits", chromedp.Click("#limits summary"), chromedp.SetValue("#lim-memory", "4GiB"))
	setSource(t, ctx, goodSource)
	do(t, ctx, "deploy", chromedp.Click("#deploy"))
	waitFor(t, ctx, "the limit error", `document.querySelector('#deploy-error').textContent.includes('use 16MiB to 2GiB')`)
	t.Logf("limit error shown: %q", text(t, ctx, "#deploy-error"))
	do(t, ctx, "fix the limit", chromedp.SetValue("#lim-memory", "32MiB"))

	// Fix it and deploy: the function page opens.
	setSource(t, ctx, goodSource)
	do(t, ctx, "deploy", chromedp.Click("#deploy"))
	waitFor(t, ctx, "the function page", `location.hash === '#/fn/greet' && !!document.querySelector('#invoke')`)
	if got := eval[string](t, ctx, `document.querySelector('#lim-memory').value`); got != "32MiB" {
		t.Errorf("deployed memory limit = %q, want 32MiB", got)
	}

	// Invoke from the console with a JSON body: status, body, the log line
	// (markup shown as text).
	do(t, ctx, "fill the console", chromedp.SetValue("#inv-method", "POST"), chromedp.SetValue("#inv-path", "/x?y=1"),
		chromedp.SetValue("#inv-body", `{"n":1}`), chromedp.Click("#invoke"))
	waitFor(t, ctx, "the answer", `(document.querySelector('#inv-status')||{}).textContent === '201'`)
	if got := text(t, ctx, "#inv-body-out"); got != `got {"n":1}` {
		t.Errorf("console body = %q, want %q", got, `got {"n":1}`)
	}
	waitFor(t, ctx, "the log line", `document.querySelector('#inv-logs').textContent.includes('POST /x')`)
	logs := text(t, ctx, "#inv-logs")
	if !strings.Contains(logs, "<img src=x onerror=window.__xss=1> POST /x") {
		t.Errorf("log line = %q, want the markup as text", logs)
	}
	if eval[bool](t, ctx, `!!document.querySelector('main img') || window.__xss !== undefined`) {
		t.Fatal("a log line's markup was rendered as HTML (an img element exists or its onerror ran)")
	}
	waitFor(t, ctx, "the history", `document.querySelectorAll('#history tbody tr').length >= 1`)
	if got := text(t, ctx, "#inv-start"); got != "cold" {
		t.Errorf("the first call's start = %q, want cold", got)
	}
	do(t, ctx, "invoke again", chromedp.Click("#invoke"))
	waitFor(t, ctx, "the second answer", `(document.querySelector('#inv-start')||{}).textContent === 'warm'`)

	// The live tail shows a call made elsewhere (the data plane), with its
	// log line as text, without reloading the page.
	waitFor(t, ctx, "the live tail", `document.querySelector('#fn-tail-state').textContent === 'Live.'`)
	eval[bool](t, ctx, `(window.__sameLoad = true)`)
	if st, b := call(t, "POST", srv.api+"/fn/greet/from-the-tail", nil, "tail"); st != 201 {
		t.Fatalf("call greet on the data plane: %d %s", st, b)
	}
	waitFor(t, ctx, "the call in the live tail", `document.querySelector('#fn-tail').textContent.includes('POST /from-the-tail')`)
	if !eval[bool](t, ctx, `window.__sameLoad === true`) {
		t.Error("the page reloaded to show the call")
	}
	if tl := text(t, ctx, "#fn-tail"); !strings.Contains(tl, "<img src=x onerror=window.__xss=1> POST /from-the-tail") {
		t.Errorf("live tail = %q, want the log line's markup as text", tl)
	}
	if eval[bool](t, ctx, `!!document.querySelector('main img') || window.__xss !== undefined`) {
		t.Fatal("a log line's markup in the live tail was rendered as HTML")
	}

	// The charts' API answers aggregates: 60 slices of the hour, the
	// calls counted in them, never the calls themselves.
	var stats struct {
		Points []struct {
			Calls, Errors int64
			P50MS         float64 `json:"p50_ms"`
		}
	}
	raw := eval[string](t, ctx, `fetch('/ui/stats?function=greet&range=1h').then((r) => r.text())`)
	if err := json.Unmarshal([]byte(raw), &stats); err != nil {
		t.Fatalf("/ui/stats: %v: %.300s", err, raw)
	}
	var calls int64
	for _, p := range stats.Points {
		calls += p.Calls
	}
	if len(stats.Points) != 60 || calls != 3 || strings.Contains(raw, "from-the-tail") {
		t.Errorf("/ui/stats: %d points with %d calls (want 60 and 3, no call records): %.300s", len(stats.Points), calls, raw)
	}
	for _, q := range []string{"function=greet&range=2d", "function=Bad!"} { // an unknown range, a bad name
		if st := eval[float64](t, ctx, fmt.Sprintf(`fetch('/ui/stats?%s').then((r) => r.status)`, q)); st != 400 {
			t.Errorf("/ui/stats?%s answered %v, want 400", q, st)
		}
	}
	page(t, ctx, "/fn/greet")
	waitFor(t, ctx, "the charts", `document.querySelector('#charts').dataset.calls === '3' && document.querySelectorAll('#chart-rate rect').length >= 1`)

	// History filtered by trigger and time.
	do(t, ctx, "filter cron calls", chromedp.SetValue("#hist-trigger", "cron"))
	eval[bool](t, ctx, `(document.querySelector('#hist-trigger').dispatchEvent(new Event('change')), true)`)
	waitFor(t, ctx, "no cron calls", `!!document.querySelector('#hist-empty')`)
	do(t, ctx, "filter http calls of the last 15 minutes", chromedp.SetValue("#hist-trigger", "http"), chromedp.SetValue("#hist-since", "900"))
	eval[bool](t, ctx, `(document.querySelector('#hist-since').dispatchEvent(new Event('change')), true)`)
	waitFor(t, ctx, "three http calls", `document.querySelectorAll('#history tbody tr:not([hidden])').length === 3`)
	waitFor(t, ctx, "the live tail", `document.querySelector('#fn-tail-state').textContent === 'Live.'`)
	if st, b := call(t, "GET", srv.api+"/fn/greet/shown-in-the-screenshot", nil, nil); st != 201 {
		t.Fatalf("call greet on the data plane: %d %s", st, b)
	}
	waitFor(t, ctx, "the call in the live tail", `document.querySelector('#fn-tail').textContent.includes('GET /shown-in-the-screenshot')`)
	shot(t, ctx, "function")

	// Deploy v2, roll back to v1.
	setSource(t, ctx, v2Source)
	do(t, ctx, "deploy v2", chromedp.Click("#deploy"))
	waitFor(t, ctx, "v2 deployed", `document.querySelector('#deploy-status').textContent.includes('version 2')`)
	waitFor(t, ctx, "the rollback control", `!!document.querySelector('button.rollback[data-version="1"]')`)
	do(t, ctx, "diff v1 and v2", chromedp.SetValue("#diff-from", "1"), chromedp.SetValue("#diff-to", "2"), chromedp.Click("#diff-show"))
	waitFor(t, ctx, "the diff", `!document.querySelector('#diff').hidden && document.querySelectorAll('#diff .d-add').length > 0`)
	if d := text(t, ctx, "#diff"); !strings.Contains(d, "+   return \"v2\"") || !strings.Contains(d, "-   log.info(\"<img") || !strings.Contains(d, "  function handle(req)") {
		t.Errorf("diff v1..v2 = %q", d)
	}
	shot(t, ctx, "function-diff")
	do(t, ctx, "roll back", chromedp.Click(`button.rollback[data-version="1"]`))
	waitFor(t, ctx, "v1 current", `!!document.querySelector('button.rollback[data-version="2"]') && !document.querySelector('button.rollback[data-version="1"]')`)
	var fn struct{ Version int }
	st, b := call(t, "GET", srv.api+"/api/v1/functions/greet", bearer(srv.admin), nil)
	if err := json.Unmarshal(b, &fn); err != nil || st != 200 || fn.Version != 1 {
		t.Fatalf("after rollback GET greet = %d %s, want version 1", st, b)
	}

	// Events: publish with markup in the payload, see it in the live tail as text.
	page(t, ctx, "/events")
	waitFor(t, ctx, "the live stream", `document.querySelector('#tail-state').textContent === 'Live.'`)
	do(t, ctx, "publish", chromedp.SendKeys("#ev-topic", "ui.test"),
		chromedp.SetValue("#ev-payload", `{"x":"<img src=x onerror=window.__xss=2>"}`), chromedp.Click("#publish"))
	waitFor(t, ctx, "the event in the tail", `document.querySelector('#tail').textContent.includes('onerror=window.__xss=2')`)
	if eval[bool](t, ctx, `!!document.querySelector('main img') || window.__xss !== undefined`) {
		t.Fatal("an event payload's markup was rendered as HTML")
	}
	shot(t, ctx, "events")

	// A failing event handler: its dead letter appears; fixed, a retry succeeds.
	if st, b := call(t, "POST", srv.api+"/api/v1/functions", bearer(srv.admin), map[string]any{"name": "flaky",
		"max_attempts": 1, "source": "function handle(req)\n  error(\"boom <b>bold</b>\")\nend\n"}); st != 201 {
		t.Fatalf("deploy flaky: %d %s", st, b)
	}
	page(t, ctx, "/events")
	do(t, ctx, "add a trigger", chromedp.SendKeys("#tr-function", "flaky"), chromedp.SendKeys("#tr-topic", "jobs"), chromedp.Click("#tr-add"))
	waitFor(t, ctx, "the trigger", `(document.querySelector('#triggers')||{textContent:''}).textContent.includes('jobs')`)
	waitFor(t, ctx, "the live stream", `document.querySelector('#tail-state').textContent === 'Live.'`)
	do(t, ctx, "publish a job", chromedp.SendKeys("#ev-topic", "jobs"), chromedp.SetValue("#ev-payload", `{"job":1}`), chromedp.Click("#publish"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		page(t, ctx, "/dead-letters")
		if present(t, ctx, ".dead-letter") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no dead letter within 30s of a failing delivery")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if dl := text(t, ctx, ".dead-letter"); !strings.Contains(dl, "boom <b>bold</b>") || !strings.Contains(dl, "flaky") {
		t.Errorf("dead letter shows %q, want the function and its error as text", dl)
	}
	if present(t, ctx, "main b b, .dead-letter li b") {
		t.Error("an error's markup was rendered as HTML")
	}
	shot(t, ctx, "dead-letters")
	if st, b := call(t, "PUT", srv.api+"/api/v1/functions/flaky", bearer(srv.admin), map[string]any{
		"source": "function handle(req)\n  log.info(\"job done\")\n  return \"ok\"\nend\n"}); st != 200 {
		t.Fatalf("fix flaky: %d %s", st, b)
	}
	do(t, ctx, "select and retry", chromedp.Click(".dead-letter input[type=checkbox]"), chromedp.Click("#dl-retry-selected"))
	waitFor(t, ctx, "the dead letter gone", `!!document.querySelector('#no-dead-letters')`)
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, b := call(t, "GET", srv.api+"/api/v1/invocations?function=flaky&status=succeeded", bearer(srv.admin), nil)
		if strings.Contains(string(b), `"status":"succeeded"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retried delivery did not succeed within 30s: %s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}

	page(t, ctx, "/")
	if n := eval[int](t, ctx, `document.querySelectorAll('#functions svg.spark').length`); n != 2 {
		t.Errorf("overview sparklines = %d, want one per function (2)", n)
	}
	waitFor(t, ctx, "the workers refreshed", `!!document.querySelector('#workers')`)
	if n := eval[int](t, ctx, `document.querySelectorAll('#nodes tbody tr').length`); n != 1 || !strings.Contains(text(t, ctx, "#nodes"), "this node") {
		t.Errorf("overview nodes: %d rows %q, want this node", n, text(t, ctx, "#nodes"))
	}
	shot(t, ctx, "overview")
	if st, b := call(t, "GET", srv.api+"/fn/flaky", nil, nil); st != 200 { // a worker to show
		t.Fatalf("call flaky: %d %s", st, b)
	}
	page(t, ctx, "/workers")
	if node := text(t, ctx, "#workers td.node"); node == "" {
		t.Errorf("the workers page has no node column value: %q", text(t, ctx, "#workers"))
	}
	shot(t, ctx, "workers")
	// Dark, as the system setting asks.
	do(t, ctx, "prefer dark", chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return chromedp.Void{}, err
	}))
	if bg := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(15, 18, 22)" {
		t.Errorf("dark scheme background = %s, want rgb(15, 18, 22)", bg)
	}
	shot(t, ctx, "overview-dark")
	do(t, ctx, "prefer light", chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}})
		return chromedp.Void{}, err
	}))
	page(t, ctx, "/access")
	shot(t, ctx, "access")
	page(t, ctx, "/schedules")
	do(t, ctx, "type a bad expression", chromedp.SetValue("#sc-tz", "UTC"), chromedp.SendKeys("#sc-expr", "61 * * * *"))
	waitFor(t, ctx, "the expression error", `!!document.querySelector('#sc-error')`)
	t.Logf("schedule error shown: %q", text(t, ctx, "#sc-error"))
	eval[bool](t, ctx, `(() => { const e = document.querySelector('#sc-expr'); e.value = '@every 2s';
		e.dispatchEvent(new Event('input')); return true })()`)
	waitFor(t, ctx, "the next five runs", `document.querySelectorAll('#sc-next li').length === 5`)
	do(t, ctx, "add a schedule", chromedp.SendKeys("#sc-function", "flaky"), chromedp.Click("#sc-add"))
	waitFor(t, ctx, "the schedule", `(document.querySelector('#schedules')||{textContent:''}).textContent.includes('@every 2s')`)
	deadline = time.Now().Add(30 * time.Second)
	for {
		page(t, ctx, "/schedules")
		if present(t, ctx, `.sc-runs[data-function="flaky"] .badge.succeeded`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no run of the @every 2s schedule shown within 30s")
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("schedule runs shown: %q", text(t, ctx, `.sc-runs[data-function="flaky"]`))
	shot(t, ctx, "schedules")
	if st, b := call(t, "GET", srv.api+"/api/v1/schedules", bearer(srv.admin), nil); st == 200 {
		var sl struct{ Schedules []struct{ ID int64 } }
		if json.Unmarshal(b, &sl) == nil {
			for _, sc := range sl.Schedules { // quiet for the rest of the journey
				call(t, "DELETE", fmt.Sprintf("%s/api/v1/schedules/%d", srv.api, sc.ID), bearer(srv.admin), nil)
			}
		}
	}

	// A function's page on the data plane's origin cannot act with the
	// admin's session, and the function never receives the cookie.
	if st, b := call(t, "POST", srv.api+"/api/v1/functions", bearer(srv.admin),
		map[string]any{"name": "evil", "source": evilSource(srv.ui)}); st != 201 {
		t.Fatalf("deploy evil: %d %s", st, b)
	}
	do(t, ctx, "open the function's page", chromedp.Navigate(srv.api+"/fn/evil"))
	waitFor(t, ctx, "the page's attempts", `document.querySelector('#out').textContent !== 'running'`)
	var got struct {
		Read, Write string
		Same        any
	}
	if err := json.Unmarshal([]byte(text(t, ctx, "#out")), &got); err != nil {
		t.Fatalf("evil page result %q: %v", text(t, ctx, "#out"), err)
	}
	t.Logf("function page attempts: %+v; cookies it received: %q", got, text(t, ctx, "#cookie"))
	if got.Read != "blocked" {
		t.Errorf("a function page read the dashboard API: %q", got.Read)
	}
	if fmt.Sprint(got.Same) != "401" {
		t.Errorf("same-origin control API with the browser's cookies answered %v, want 401", got.Same)
	}
	if ck := text(t, ctx, "#cookie"); strings.Contains(ck, "picloud_session") {
		t.Errorf("the function received the dashboard's session cookie: %q", ck)
	}
	_, b = call(t, "GET", srv.api+"/api/v1/tokens", bearer(srv.admin), nil)
	if strings.Contains(string(b), "pwned") {
		t.Fatalf("a function page created a token with the admin's session: %s", b)
	}
	// Cookies are not bound to ports by every browser: whatever a browser
	// sends to the data plane, a function never sees the session cookie.
	st, b = call(t, "GET", srv.api+"/fn/evil", map[string]string{"Cookie": "picloud_session=" + adminCookie + "; theirs=1"}, nil)
	if st != 200 || strings.Contains(string(b), "picloud_session") || !strings.Contains(string(b), "<pre id=cookie>theirs=1</pre>") {
		t.Errorf("a function received the dashboard's cookie or lost its own: %d %.200s", st, b)
	}

	// A read token: no deploy, rollback or delete control, and the API refuses.
	var viewer struct{ Secret string }
	st, b = call(t, "POST", srv.api+"/api/v1/tokens", bearer(srv.admin), map[string]any{"name": "viewer", "scopes": []string{"read"}})
	if err := json.Unmarshal(b, &viewer); err != nil || st != 201 {
		t.Fatalf("create viewer token: %d %s", st, b)
	}

	// Sign out: the old cookie is dead.
	page(t, ctx, "/")
	do(t, ctx, "sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#token"))
	oldCookie := map[string]string{"Cookie": "picloud_session=" + adminCookie}
	if st, b := call(t, "GET", srv.ui+"/api/v1/functions", oldCookie, nil); st != 401 {
		t.Fatalf("after sign-out the old session answered %d %s, want 401", st, b)
	}
	for _, p := range []string{"/ui/tail?function=greet", "/ui/stats?function=greet", "/ui/schedule-runs?function=greet"} {
		if st, b := call(t, "GET", srv.ui+p, oldCookie, nil); st != 401 {
			t.Errorf("after sign-out GET %s answered %d %.200s, want 401", p, st, b)
		}
	}

	signIn(t, ctx, viewer.Secret)
	if present(t, ctx, "#new-function") {
		t.Error("a read session sees the New function control")
	}
	page(t, ctx, "/fn/greet")
	waitFor(t, ctx, "versions", `!!document.querySelector('#versions table')`)
	for _, sel := range []string{"#deploy", "button.rollback", "#delete-function", "#invoke"} {
		if present(t, ctx, sel) {
			t.Errorf("a read session sees %s", sel)
		}
	}
	if !eval[bool](t, ctx, `document.querySelector('#source').readOnly`) {
		t.Error("a read session's editor is not read-only")
	}
	shot(t, ctx, "function-read")
	st2 := eval[float64](t, ctx, `fetch('/api/v1/functions/greet', {method: 'PUT', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({source: 'function handle() return 1 end'})}).then(r => r.status)`)
	if st2 != 403 {
		t.Errorf("a read session's deploy answered %v, want 403", st2)
	}
	st2 = eval[float64](t, ctx, `fetch('/api/v1/functions/greet/rollback', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}).then(r => r.status)`)
	if st2 != 403 {
		t.Errorf("a read session's rollback answered %v, want 403", st2)
	}

	// Revoking the token ends its session.
	if st, b := call(t, "DELETE", srv.api+"/api/v1/tokens/viewer", bearer(srv.admin), nil); st != 204 && st != 200 {
		t.Fatalf("revoke viewer: %d %s", st, b)
	}
	if st := eval[float64](t, ctx, `fetch('/ui/session').then(r => r.status)`); st != 401 {
		t.Errorf("after revocation the session answered %v, want 401", st)
	}
	t.Logf("journey took %s; screenshots in %s", time.Since(startAt).Round(time.Millisecond), artifacts(t))
}
