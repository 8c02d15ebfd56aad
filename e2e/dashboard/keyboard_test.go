package dashboard

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestDashboard_SignInByKeyboardOnly reaches the token field with Tab from
// the top of the page, types the token, tabs to the button and presses
// Enter: the overview opens, and its links are reachable with Tab too.
func TestDashboard_SignInByKeyboardOnly(t *testing.T) {
	ctx := browser(t)
	do(t, ctx, "open the dashboard", chromedp.Navigate(fmt.Sprintf("%s/?load=%d#/", srv.ui, time.Now().UnixNano())), chromedp.WaitVisible("#token"))
	// Signed out, the page shows no navigation and no sign-out control.
	if eval[bool](t, ctx, `[...document.querySelectorAll('#nav a, #signout')].some((e) => e.offsetParent !== null)`) {
		t.Error("the sign-in page shows the navigation or the sign-out button")
	}
	// From the top of the document: the skip link, the brand, the field.
	do(t, ctx, "reload", chromedp.Navigate(fmt.Sprintf("%s/?load=%d#/", srv.ui, time.Now().UnixNano())), chromedp.WaitVisible("#token"))
	eval[bool](t, ctx, `(document.activeElement.blur(), true)`)
	do(t, ctx, "focus the top", chromedp.Focus(".skip"))
	var path []string
	for i := 0; i < 10 && eval[string](t, ctx, `document.activeElement.id`) != "token"; i++ {
		do(t, ctx, "press Tab", chromedp.KeyEvent(kb.Tab))
		path = append(path, eval[string](t, ctx, `document.activeElement.id || document.activeElement.textContent.trim()`))
	}
	t.Logf("tab order to the token field: %q", path)
	if eval[string](t, ctx, `document.activeElement.id`) != "token" {
		t.Fatalf("the token field is not reachable with Tab: focus went %q", path)
	}
	do(t, ctx, "type the token", chromedp.KeyEvent(srv.admin), chromedp.KeyEvent(kb.Tab))
	if got := eval[string](t, ctx, `document.activeElement.id`); got != "signin" {
		t.Fatalf("Tab after the token focused %q, want the sign-in button", got)
	}
	do(t, ctx, "press Enter", chromedp.KeyEvent(kb.Enter))
	waitFor(t, ctx, "the overview", `document.querySelector('main').dataset.page === '/' && !!document.querySelector('#stat-workers')`)
	// The main navigation is in the tab order, each link with a visible focus.
	seen := map[string]bool{}
	for i := 0; i < 15; i++ {
		do(t, ctx, "press Tab", chromedp.KeyEvent(kb.Tab))
		if eval[bool](t, ctx, `!!document.activeElement.closest('#nav')`) {
			seen[eval[string](t, ctx, `document.activeElement.getAttribute('href')`)] = true
		}
	}
	for _, href := range []string{"#/", "#/dead-letters", "#/events", "#/schedules", "#/workers", "#/blobs", "#/access"} {
		if !seen[href] {
			t.Errorf("nav link %s not reached with Tab (reached %v)", href, seen)
		}
	}
	// Enter on a focused link follows it.
	eval[bool](t, ctx, `(document.querySelector('#nav a[href="#/workers"]').focus(), true)`)
	do(t, ctx, "press Enter", chromedp.KeyEvent(kb.Enter))
	waitFor(t, ctx, "the workers page", `document.querySelector('main').dataset.page === '/workers'`)
}
