package clusterfault

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// functions is how many functions scenario 1 spreads over the data nodes.
const functions = 20

// TestCluster_Faults runs issue 11's fault matrix on one lab: three data
// nodes, one control node, Caddy and PostgreSQL, each in its own network
// namespace. The scenarios run in order on the same cluster (each leaves
// it whole again) and log their figures.
func TestCluster_Faults(t *testing.T) {
	c := newCluster(t, 3)
	for i := range functions {
		c.api(t, http.MethodPost, "/api/v1/functions", map[string]any{
			"name": fmt.Sprintf("f%02d", i), "source": `function handle(req) return "v1" end`,
		}, http.StatusCreated)
	}
	// sink counts each event it is given in kv (a delivery run twice
	// counts twice); tick counts each cron tick.
	c.api(t, http.MethodPost, "/api/v1/functions", map[string]any{"name": "sink", "timeout": "30s", "source": `function handle(req)
  local e = json.decode(req.body)
  kv.incr("e" .. e.i)
  local t = os.clock()
  while os.clock() - t < 0.02 do end
  return "ok"
end`}, http.StatusCreated)
	c.api(t, http.MethodPost, "/api/v1/triggers", map[string]any{"function": "sink", "topic": "work"}, http.StatusCreated)
	c.api(t, http.MethodPost, "/api/v1/functions", map[string]any{"name": "tick", "source": `function handle(req)
  return "tick"
end`}, http.StatusCreated)
	c.api(t, http.MethodPost, "/api/v1/schedules", map[string]any{"function": "tick", "expr": "@every 1s"}, http.StatusCreated)

	steps := []struct {
		name string
		run  func(*testing.T, *cluster)
	}{
		{"1_AffinityOneNodePerFunction", scenarioAffinity},
		{"2_KillDataNodeUnderLoad", scenarioKill},
		{"3_CutNodeOffDatabase", scenarioPartition},
		{"4_RollingRestartUnderLoad", scenarioRolling},
		{"5_RestartPostgreSQLUnderLoad", scenarioPGRestart},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, c) }) {
			return // the cluster may be broken: stop here
		}
	}
	if n := c.count(t, `SELECT count(*) FROM (SELECT 1 FROM river_job WHERE args->>'trigger' = 'cron'
		GROUP BY args->'event'->>'tick' HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d cron ticks were fired more than once", n)
	}
	t.Logf("cron: %d ticks fired over the run, each once", c.count(t, `SELECT count(*) FROM schedule_ticks`))
}

// scenarioAffinity calls 20 functions through Caddy: each function's
// calls all land on one data node, the cluster runs at most 20 + 3 warm
// workers, the workers view shows every data node's workers, and a new
// version reaches every data node.
func scenarioAffinity(t *testing.T, c *cluster) {
	for round := range 5 {
		for i := range functions {
			r, err := c.do(http.MethodGet, fmt.Sprintf("%s/fn/f%02d/r%d?q=%d", caddyURL, i, round, round), "", nil)
			if err != nil || r.status != http.StatusOK {
				t.Fatalf("call f%02d: %v %d %s", i, err, r.status, r.body)
			}
		}
	}
	perNode := map[string]int{} // node → functions it served
	for i := range functions {
		fn := fmt.Sprintf("f%02d", i)
		var on []string
		for _, n := range c.nodes[1:] {
			if calls := c.calls(t, n, fn); calls > 0 {
				on = append(on, fmt.Sprintf("%s:%d", n.name, calls))
				perNode[n.name]++
			}
		}
		if len(on) != 1 {
			t.Errorf("%s's calls landed on %v, want one node", fn, on)
		}
	}
	t.Logf("functions per data node: %v", perNode)
	// Each node publishes its pool status with its heartbeat: the
	// control node's view is at most a heartbeat or two behind.
	ids := c.nodeIDs(t)
	var total int
	var w map[string]int
	eventually(t, 3*heartbeat+2*time.Second, "the workers view shows every data node that served", func() bool {
		w = c.workers(t)
		for _, n := range c.nodes[1:] {
			if perNode[n.name] > 0 && w[ids[n.addr()]] == 0 {
				return false
			}
		}
		return true
	})
	for _, k := range w {
		total += k
	}
	if total > functions+3 {
		t.Errorf("the cluster runs %d workers for %d functions, want at most %d", total, functions, functions+3)
	}
	t.Logf("warm workers in the cluster: %d (per node id %v)", total, w)

	// A new version reaches every data node through LISTEN/NOTIFY.
	c.api(t, http.MethodPut, "/api/v1/functions/f00", map[string]any{"source": `function handle(req) return "v2" end`}, http.StatusOK)
	start := time.Now()
	var slowest time.Duration
	for _, n := range c.nodes[1:] {
		eventually(t, 5*time.Second, n.name+" serves f00 v2", func() bool {
			r, err := c.do(http.MethodGet, n.url()+"/fn/f00", "", nil)
			return err == nil && string(r.body) == "v2"
		})
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("a deploy reached all 3 data nodes within %s", slowest.Round(time.Millisecond))
	t.Logf("PostgreSQL backends per node after the calls: %v", c.backends(t))
}

var invocationsRE = regexp.MustCompile(`^picloud_invocations_total\{([^}]*)\} (\S+)$`)

// calls is node n's count of HTTP calls of fn (its /metrics).
func (c *cluster) calls(t *testing.T, n *node, fn string) int {
	t.Helper()
	r, err := c.do(http.MethodGet, n.url()+"/metrics", c.admin, nil)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("%s /metrics: %v %d", n.name, err, r.status)
	}
	total := 0
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		m := invocationsRE.FindStringSubmatch(sc.Text())
		if m == nil || !strings.Contains(m[1], `function="`+fn+`"`) || !strings.Contains(m[1], `trigger="http"`) {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		total += int(v)
	}
	return total
}

// loadResult is what a load run saw.
type loadResult struct {
	mu       sync.Mutex
	ok       int
	failures []failure
}

type failure struct {
	at   time.Time
	what string
}

func (l *loadResult) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d ok, %d failed", l.ok, len(l.failures))
}

func (l *loadResult) failed() []failure {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]failure(nil), l.failures...)
}

// Load: loadClients loops through Caddy, each at most one call in flight
// and a short pause between calls, for a bounded time and count.
const (
	loadClients  = 4
	loadMaxCalls = 20000 // per client
	loadPause    = 5 * time.Millisecond
)

// load calls the 20 functions round robin through Caddy until ctx ends
// (or loadMaxCalls per client); wait returns the result.
func (c *cluster) load(ctx context.Context) (wait func() *loadResult) {
	res := &loadResult{}
	var wg sync.WaitGroup
	for w := range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: c.dialer("client")}}
			defer client.CloseIdleConnections()
			for i := 0; i < loadMaxCalls && ctx.Err() == nil; i++ {
				url := fmt.Sprintf("%s/fn/f%02d", caddyURL, (w*7+i)%functions)
				resp, err := client.Get(url)
				what := ""
				if err != nil {
					what = err.Error()
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						what = fmt.Sprintf("%s: %d", url, resp.StatusCode)
					}
				}
				res.mu.Lock()
				if what == "" {
					res.ok++
				} else {
					res.failures = append(res.failures, failure{time.Now(), what})
				}
				res.mu.Unlock()
				time.Sleep(loadPause)
			}
		}()
	}
	return func() *loadResult { wg.Wait(); return res }
}

// publish publishes n events {"i": from..from+n-1} on topic work through
// Caddy and returns the ones committed (answered 2xx).
func (c *cluster) publish(from, n int) (committed []int) {
	for i := from; i < from+n; i++ {
		r, err := c.do(http.MethodPost, caddyURL+"/api/v1/events/work", c.admin, map[string]any{"i": i})
		if err == nil && r.status/100 == 2 {
			committed = append(committed, i)
		}
	}
	return committed
}

// delivered counts, per event of committed, the runs of sink (kv).
func (c *cluster) delivered(t *testing.T, committed []int) (done, dups int) {
	t.Helper()
	for _, i := range committed {
		n := c.count(t, `SELECT coalesce((SELECT value::int FROM kv WHERE function = 'sink' AND key = $1), 0)`, fmt.Sprintf("e%d", i))
		if n > 0 {
			done++
			dups += n - 1
		}
	}
	return done, dups
}

// holder returns the data node holding the most running deliveries, its
// id and how many it holds.
func (c *cluster) holder(t *testing.T, ids map[string]string) (*node, string, int) {
	var best *node
	most := 0
	for _, n := range c.nodes[1:] {
		k := c.count(t, `SELECT count(*) FROM river_job WHERE state = 'running'
			AND attempted_by[array_upper(attempted_by, 1)] = $1`, ids[n.addr()])
		if k > most {
			best, most = n, k
		}
	}
	if best == nil {
		return nil, "", 0
	}
	return best, ids[best.addr()], most
}

// scenarioKill kills -9 the data node running the most deliveries, under
// load through Caddy, with 200 deliveries pending.
func scenarioKill(t *testing.T, c *cluster) {
	ticks := c.count(t, `SELECT count(*) FROM schedule_ticks`)
	ctx, stop := context.WithTimeout(context.Background(), 12*time.Second)
	defer stop()
	wait := c.load(ctx)
	time.Sleep(2 * time.Second)
	const events = 200
	committed := c.publish(0, events)
	if len(committed) != events {
		t.Fatalf("%d of %d events committed", len(committed), events)
	}
	var victim *node
	var id string
	held := 0
	ids := c.nodeIDs(t)
	eventually(t, 10*time.Second, "a data node runs deliveries", func() bool {
		victim, id, held = c.holder(t, ids)
		return victim != nil
	})
	victim.p.kill() // at once: it ran `held` deliveries a moment ago
	killed := time.Now()
	t.Logf("killed %s (kill -9) while it ran %d deliveries", victim.name, held)

	detect := eventually(t, 15*time.Second, "the killed node leaves the registry", func() bool {
		_, ok := c.nodeIDs(t)[victim.addr()]
		return !ok
	})
	requeued := c.count(t, `SELECT count(*) FROM river_job WHERE kind = 'picloud_delivery'
		AND EXISTS (SELECT 1 FROM unnest(errors) e WHERE e->>'error' LIKE '%lease expired%')
		AND attempted_by @> ARRAY[$1]`, id)
	var done, dups int
	rerun := eventually(t, 30*time.Second, "every delivery completes", func() bool {
		done, dups = c.delivered(t, committed)
		return done == events
	})
	rerun += time.Since(killed) - rerun // measured from the kill
	t.Logf("PostgreSQL backends per node re-running the deliveries under load: %v", c.backends(t))
	res := wait()
	var fails []string
	var lastFail time.Duration
	for _, f := range res.failed() {
		fails = append(fails, fmt.Sprintf("%+.2fs %s", f.at.Sub(killed).Seconds(), f.what))
		lastFail = max(lastFail, f.at.Sub(killed))
	}
	t.Logf("load: %s; failures relative to the kill: %v", res, fails)
	t.Logf("dead node detected (reaped) %s after the kill (lease %s); %d of its deliveries re-queued; all %d deliveries done %s after the kill; %d duplicate runs",
		(detect).Round(10*time.Millisecond), lease, requeued, events, rerun.Round(10*time.Millisecond), dups)
	if fired := c.count(t, `SELECT count(*) FROM schedule_ticks`) - ticks; fired < 5 {
		t.Errorf("only %d cron ticks fired during the scenario (@every 1s)", fired)
	}
	if len(fails) > loadClients {
		t.Errorf("%d requests failed, more than the %d that could be in flight on the killed node", len(fails), loadClients)
	}
	if lastFail > 3*time.Second {
		t.Errorf("a request failed %s after the kill: Caddy kept sending to the dead node past its health interval", lastFail)
	}
	if rerun > 15*time.Second {
		t.Errorf("the deliveries completed %s after the kill, want within 15s", rerun)
	}
	if k := c.count(t, `SELECT count(*) FROM river_job WHERE state = 'running'
		AND attempted_by[array_upper(attempted_by, 1)] = $1`, id); k != 0 {
		t.Errorf("the dead node still holds %d running deliveries after it was reaped", k)
	}
	c.startNode(t, victim) // back to three data nodes
}

// scenarioPartition cuts a data node's database link: its /readyz fails,
// it stops claiming deliveries, the others reap it and run them; after the
// link is back it rejoins by itself and has caught up with a deploy made
// meanwhile.
func scenarioPartition(t *testing.T, c *cluster) {
	n := c.nodes[1]
	oldID := c.nodeIDs(t)[n.addr()]
	c.ip("-n", c.ns(n.name), "link", "set", "eth1", "down")
	cut := time.Now()
	restored := false
	restore := func() {
		if !restored {
			restored = true
			c.ip("-n", c.ns(n.name), "link", "set", "eth1", "up")
		}
	}
	defer restore()
	unready := eventually(t, 5*time.Second, n.name+"'s /readyz fails", func() bool { return !c.ready(n) })
	t.Logf("/readyz failed %s after the database link went down", unready.Round(10*time.Millisecond))
	committed := c.publish(1000, 40)
	c.api(t, http.MethodPut, "/api/v1/functions/f01", map[string]any{"source": `function handle(req) return "v2" end`}, http.StatusOK)
	eventually(t, 15*time.Second, "the cut-off node is reaped", func() bool {
		_, ok := c.nodeIDs(t)[n.addr()]
		return !ok
	})
	reaped := time.Since(cut)
	eventually(t, 15*time.Second, "the other nodes deliver the events", func() bool {
		done, _ := c.delivered(t, committed)
		return done == len(committed)
	})
	if k := c.count(t, `SELECT count(*) FROM river_job WHERE args->>'topic' = 'work'
		AND (args->'payload'->>'i')::int BETWEEN 1000 AND 1999 AND attempted_by @> ARRAY[$1]`, oldID); k != 0 {
		t.Errorf("the cut-off node claimed %d deliveries", k)
	}
	restore()
	back := time.Now()
	rejoin := eventually(t, 20*time.Second, n.name+" rejoins", func() bool {
		_, ok := c.nodeIDs(t)[n.addr()]
		return ok && c.ready(n)
	})
	caught := eventually(t, 20*time.Second, n.name+" serves the version deployed while it was cut off", func() bool {
		r, err := c.do(http.MethodGet, n.url()+"/fn/f01", "", nil)
		return err == nil && string(r.body) == "v2"
	})
	t.Logf("cut off for %s: reaped %s after the cut; rejoined %s after the link came back, serving the deploy made meanwhile after %s",
		back.Sub(cut).Round(10*time.Millisecond), reaped.Round(10*time.Millisecond),
		rejoin.Round(10*time.Millisecond), caught.Round(10*time.Millisecond))
	log, err := os.ReadFile(n.p.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"this node stops claiming work", "claiming work again"} {
		if !bytes.Contains(log, []byte(want)) {
			t.Errorf("%s's log lacks %q: it did not fence itself while cut off", n.name, want)
		}
	}
	// It works deliveries again.
	more := c.publish(2000, 30)
	eventually(t, 15*time.Second, "deliveries after the rejoin", func() bool {
		done, _ := c.delivered(t, more)
		return done == len(more)
	})
}

// scenarioRolling restarts every node, one at a time with SIGTERM, under
// load through Caddy: no request fails.
func scenarioRolling(t *testing.T, c *cluster) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	wait := c.load(ctx)
	time.Sleep(time.Second)
	start := time.Now()
	for _, n := range append(c.nodes[1:], c.nodes[0]) {
		c.stopNode(t, n)
		c.startNode(t, n)
		time.Sleep(3 * time.Second) // Caddy's next health check sees it up
	}
	stop()
	res := wait()
	t.Logf("rolling restart of %d nodes in %s: load %s", len(c.nodes), time.Since(start).Round(100*time.Millisecond), res)
	for i, f := range res.failed() {
		if i == 10 {
			t.Errorf("... %d failures in all", len(res.failed()))
			break
		}
		t.Errorf("failed at %+.2fs: %s", f.at.Sub(start).Seconds(), f.what)
	}
}

// scenarioPGRestart restarts PostgreSQL under load: the nodes reconnect by
// themselves, service is back within 10 s, no committed event is lost.
func scenarioPGRestart(t *testing.T, c *cluster) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	wait := c.load(ctx)
	var mu sync.Mutex
	var committed []int
	pubCtx, stopPub := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	go func() { // publishes during the whole restart, bounded
		defer close(pubDone)
		for i := 3000; i < 3400 && pubCtx.Err() == nil; i++ {
			got := c.publish(i, 1)
			mu.Lock()
			committed = append(committed, got...)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	c.pg.signal(syscall.SIGINT) // fast shutdown: every connection is cut
	if err := c.pg.wait(30 * time.Second); err != nil {
		t.Fatalf("postgres did not stop: %v", err)
	}
	down := time.Now()
	time.Sleep(time.Second)
	c.runPG(t)
	up := time.Now()
	back := eventually(t, 20*time.Second, "every node ready and an event committed", func() bool {
		for _, n := range c.nodes {
			if !c.ready(n) {
				return false
			}
		}
		r, err := c.do(http.MethodPost, caddyURL+"/api/v1/events/work", c.admin, map[string]any{"i": 9999})
		return err == nil && r.status/100 == 2
	})
	time.Sleep(time.Second)
	stopPub()
	<-pubDone
	stop()
	res := wait()
	mu.Lock()
	defer mu.Unlock()
	var done, dups int
	eventually(t, 30*time.Second, "every committed event is delivered", func() bool {
		done, dups = c.delivered(t, committed)
		return done == len(committed)
	})
	kinds := map[string]int{}
	var lastFail time.Duration
	for _, f := range res.failed() {
		what := f.what
		if i := strings.LastIndex(what, ": "); i >= 0 {
			what = what[i+2:]
		}
		kinds[what]++
		lastFail = max(lastFail, f.at.Sub(up))
	}
	t.Logf("postgres down %s; every node ready and publishing %s after it restarted, the last failed /fn call %+.2fs; %d events committed, %d delivered, %d duplicate runs; /fn load %s %v",
		up.Sub(down).Round(10*time.Millisecond), back.Round(10*time.Millisecond), lastFail.Seconds(), len(committed), done, dups, res, kinds)
	if kinds["500"] > 0 {
		t.Errorf("%d calls answered 500 while the database restarted, want 503 (unavailable)", kinds["500"])
	}
	if back > 10*time.Second || lastFail > 10*time.Second {
		t.Errorf("service back %s (last failure %s) after postgres restarted, want within 10s", back, lastFail)
	}
}
