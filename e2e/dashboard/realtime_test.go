package dashboard

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// publish publishes n events on topic through the data plane's API.
func publish(t *testing.T, topic string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if st, b := call(t, "POST", srv.api+"/api/v1/events/"+topic, bearer(srv.admin), fmt.Sprintf(`{"n":%d}`, i)); st != 201 && st != 200 && st != 202 {
			t.Fatalf("publish %d: %d %s", i, st, b)
		}
	}
}

// TestRealtimeClient_ResumesAcrossRestartWithoutGapOrDuplicate runs
// clients/js/picloud-realtime.js (as the dashboard serves it) in Chromium
// with a ticket from a dashboard session, restarts picloud serve under it,
// and checks every event arrives once and in order; a bad ticket is a
// fatal 401, not a reconnect loop.
func TestRealtimeClient_ResumesAcrossRestartWithoutGapOrDuplicate(t *testing.T) {
	ctx := browser(t)
	signIn(t, ctx, srv.admin)
	eval[bool](t, ctx, `import('/picloud-realtime.js').then((m) => {
		window.__rt = { events: [], errors: [], opens: 0 };
		window.__sub = m.subscribe({
			topics: ['rt'], minDelay: 100, maxDelay: 1000,
			ticket: async (ts) => (await (await fetch('/api/v1/events/tickets?' + new URLSearchParams(ts.map((t) => ['topic', t])),
				{ method: 'POST' })).json()).ticket,
			onOpen: () => { window.__rt.opens++; },
			onEvent: (ev) => window.__rt.events.push(ev.payload.n),
			onError: (e) => window.__rt.errors.push(e.status + ' ' + e.fatal),
		});
		return true;
	})`)
	waitFor(t, ctx, "the stream open", `window.__rt.opens === 1`)
	publish(t, "rt", 1, 3)
	waitFor(t, ctx, "three events", `window.__rt.events.length === 3`)

	if err := srv.restart(); err != nil {
		t.Fatalf("restart picloud serve: %v", err)
	}
	publish(t, "rt", 4, 6) // perhaps before the client is back: replayed from the log
	waitFor(t, ctx, "six events", `window.__rt.events.length >= 6 && window.__rt.opens >= 2`)
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
	got := eval[[]int](t, ctx, `window.__rt.events`)
	if fmt.Sprint(got) != "[1 2 3 4 5 6]" {
		t.Errorf("events across a restart = %v, want [1 2 3 4 5 6] (no gap, no duplicate)", got)
	}
	t.Logf("reconnects: %v, errors seen: %v", eval[int](t, ctx, `window.__rt.opens`), eval[[]string](t, ctx, `window.__rt.errors`))

	// A bad ticket: the client reports a fatal 401 once and stops.
	eval[bool](t, ctx, `import('/picloud-realtime.js').then((m) => {
		window.__bad = { errors: [] };
		window.__badSub = m.subscribe({ topics: ['rt'], minDelay: 50, ticket: async () => 'not-a-ticket',
			onError: (e) => window.__bad.errors.push(e.status + ' ' + e.fatal) });
		return true;
	})`)
	waitFor(t, ctx, "the auth error", `window.__bad.errors.length >= 1`)
	time.Sleep(500 * time.Millisecond)
	errs := eval[[]string](t, ctx, `window.__bad.errors`)
	if strings.Join(errs, ",") != "401 true" || eval[int](t, ctx, `window.__badSub.connects`) != 1 {
		t.Errorf("bad ticket: errors %v after %d connects, want one fatal 401", errs, eval[int](t, ctx, `window.__badSub.connects`))
	}
	eval[bool](t, ctx, `(window.__sub.close(), true)`)
}
