package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is several picloud serve processes on one database of their own.
type cluster struct {
	hh    *harness
	dbURL string
	db    *pgx.Conn
	admin string
	nodes []*node
}

// clusterFlags make a dead node noticed within a second or two.
var clusterFlags = []string{"--heartbeat", "250ms", "--lease", "2s"}

// newCluster creates a fresh database and starts a node per roles entry,
// the first one writing the admin token. Every node is stopped, and the
// database dropped, when the test ends.
func newCluster(t *testing.T, roles ...string) *cluster {
	t.Helper()
	hh := need(t)
	ctx := context.Background()
	base := os.Getenv("DATABASE_URL")
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "picloud_cluster_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	c := &cluster{hh: hh, dbURL: u.String()}
	dir := t.TempDir()
	for i, r := range roles {
		c.start(t, filepath.Join(dir, fmt.Sprintf("node%d", i)), r)
		if i == 0 {
			tok, err := os.ReadFile(filepath.Join(dir, "node0", "admin.token"))
			if err != nil {
				t.Fatalf("read the first node's admin token: %v", err)
			}
			c.admin = strings.TrimSpace(string(tok))
		}
	}
	if c.db, err = pgx.Connect(ctx, c.dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.db.Close(context.Background()) })
	return c
}

// start runs one more node with roles; it is stopped when the test ends.
func (c *cluster) start(t *testing.T, dataDir, roles string) *node {
	t.Helper()
	n, err := startServe(c.hh.binDir, c.dbURL, dataDir, append([]string{"--roles", roles}, clusterFlags...)...)
	if err != nil {
		t.Fatalf("start a %s node: %v", roles, err)
	}
	t.Cleanup(func() {
		select {
		case <-n.exited:
			return // killed by the test
		default:
		}
		if err := n.stop(); err != nil {
			t.Errorf("%s node did not stop cleanly: %v\n%s", roles, err, n.logs())
		}
	})
	c.nodes = append(c.nodes, n)
	return n
}

// nodeView is one row of GET /api/v1/nodes.
type nodeView struct {
	ID      string   `json:"id"`
	Address string   `json:"address"`
	Roles   []string `json:"roles"`
	Alive   bool     `json:"alive"`
	Self    bool     `json:"self"`
}

func (c *cluster) listNodes(t *testing.T, via *node) map[string]nodeView {
	t.Helper()
	r := via.do(t, req{Method: "GET", Path: "/api/v1/nodes", Token: c.admin})
	if r.Status != http.StatusOK {
		t.Fatalf("list nodes: %d %s", r.Status, r.Body)
	}
	var l struct{ Nodes []nodeView }
	r.JSON(t, &l)
	out := map[string]nodeView{}
	for _, n := range l.Nodes {
		out[n.Address] = n
	}
	return out
}

// addr is n's address as it advertises it (the listen address).
func (n *node) addr() string { return strings.TrimPrefix(n.base, "http://") }

// workersByNode counts the workers of GET /api/v1/workers per node id.
func (c *cluster) workersByNode(t *testing.T, via *node) map[string]int {
	t.Helper()
	r := via.do(t, req{Method: "GET", Path: "/api/v1/workers", Token: c.admin})
	if r.Status != http.StatusOK {
		t.Fatalf("workers: %d %s", r.Status, r.Body)
	}
	var ws struct {
		Workers []struct{ Node string }
	}
	r.JSON(t, &ws)
	out := map[string]int{}
	for _, w := range ws.Workers {
		out[w.Node]++
	}
	return out
}

// TestCluster_RolesGateRoutesAndEveryNodeIsListed runs a control node and
// two data nodes: each answers 421 naming the role it lacks, the registry
// lists all three with their roles, and the control node's workers view
// shows the workers of both data nodes.
func TestCluster_RolesGateRoutesAndEveryNodeIsListed(t *testing.T) {
	c := newCluster(t, "control", "data", "data")
	ctl, d1, d2 := c.nodes[0], c.nodes[1], c.nodes[2]

	wrong := func(n *node, r req, role string) {
		t.Helper()
		got := n.do(t, r)
		msg, code := got.errorBody(t)
		if got.Status != http.StatusMisdirectedRequest || code != "wrong_role" || !strings.Contains(msg, "the "+role+" role") {
			t.Errorf("%s %s on a node without %s: %d %s", r.Method, r.Path, role, got.Status, got.Body)
		}
	}
	wrong(ctl, req{Method: "GET", Path: "/fn/hello"}, "data")
	wrong(ctl, req{Method: "POST", Path: "/api/v1/functions/hello/invoke", Token: c.admin, Body: "{}"}, "data")
	wrong(d1, req{Method: "GET", Path: "/api/v1/functions", Token: c.admin}, "control")
	wrong(d2, req{Method: "GET", Path: "/api/v1/nodes", Token: c.admin}, "control")
	for _, n := range c.nodes {
		if r := n.do(t, req{Method: "GET", Path: "/readyz"}); r.Status != http.StatusOK {
			t.Errorf("readyz: %d %s", r.Status, r.Body)
		}
	}

	nodes := c.listNodes(t, ctl)
	for n, roles := range map[*node]string{ctl: "control", d1: "data", d2: "data"} {
		v, ok := nodes[n.addr()]
		if !ok || strings.Join(v.Roles, ",") != roles || !v.Alive || v.Self != (n == ctl) {
			t.Errorf("node %s: %+v (present %v), want roles %s, alive", n.addr(), v, ok, roles)
		}
	}
	if len(nodes) != 3 {
		t.Errorf("%d nodes listed, want 3: %v", len(nodes), nodes)
	}

	r := ctl.do(t, req{Method: "POST", Path: "/api/v1/functions", Token: c.admin,
		Body: map[string]any{"name": "hello", "source": `function handle(req) return "hi" end`}})
	if r.Status != http.StatusCreated {
		t.Fatalf("deploy through the control node: %d %s", r.Status, r.Body)
	}
	for _, d := range []*node{d1, d2} {
		if r := d.do(t, req{Method: "GET", Path: "/fn/hello"}); r.Status != 200 || string(r.Body) != "hi" {
			t.Fatalf("call on a data node: %d %s", r.Status, r.Body)
		}
	}
	id1, id2 := nodes[d1.addr()].ID, nodes[d2.addr()].ID
	eventually(t, "the control node shows both data nodes' workers", func() bool {
		w := c.workersByNode(t, ctl)
		return w[id1] > 0 && w[id2] > 0 && w[nodes[ctl.addr()].ID] == 0
	})
}

// TestCluster_KilledDataNodesDeliveriesAreRequeuedAndCompleteOnce kills a
// data node with -9 while it runs deliveries: the control node notices its
// lease expired, re-queues its running jobs at once (River alone would
// wait --rescue-after, 20 minutes), the node leaves the registry and the
// workers view, and a second data node completes every delivery, each
// recorded as a success exactly once.
func TestCluster_KilledDataNodesDeliveriesAreRequeuedAndCompleteOnce(t *testing.T) {
	c := newCluster(t, "control", "data")
	ctl, d1 := c.nodes[0], c.nodes[1]
	r := ctl.do(t, req{Method: "POST", Path: "/api/v1/functions", Token: c.admin, Body: map[string]any{
		"name": "sink", "cpu": 0.1, "max_workers": 4, "timeout": "60s",
		"source": `function handle(req)
  local e = json.decode(req.body)
  local t0 = os.time()
  while os.time() - t0 < 3 do end
  return tostring(e.i)
end`}})
	if r.Status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", r.Status, r.Body)
	}
	if r = ctl.do(t, req{Method: "POST", Path: "/api/v1/triggers", Token: c.admin,
		Body: map[string]any{"function": "sink", "topic": "work"}}); r.Status != http.StatusCreated {
		t.Fatalf("trigger: %d %s", r.Status, r.Body)
	}
	const events = 4
	for i := range events {
		if r = ctl.do(t, req{Method: "POST", Path: "/api/v1/events/work", Token: c.admin,
			Body: map[string]any{"i": i}}); r.Status/100 != 2 {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	id1 := c.listNodes(t, ctl)[d1.addr()].ID
	ctx := context.Background()
	running := func() int {
		var n int
		if err := c.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'picloud_delivery'
			AND state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $1`, id1).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, "the data node runs deliveries", func() bool { return running() > 0 })
	eventually(t, "the control node shows the data node's workers", func() bool { return c.workersByNode(t, ctl)[id1] > 0 })
	inFlight := running()
	d1.kill()
	killed := time.Now()

	eventually(t, "the killed node leaves the registry", func() bool {
		_, ok := c.listNodes(t, ctl)[d1.addr()]
		return !ok
	})
	t.Logf("killed node reaped %s after the kill (lease 2s, heartbeat 250ms)", time.Since(killed).Round(10*time.Millisecond))
	if running() != 0 {
		t.Errorf("the killed node still holds running jobs after it was reaped")
	}
	var requeued int
	if err := c.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'picloud_delivery'
		AND EXISTS (SELECT 1 FROM unnest(errors) e WHERE e->>'error' LIKE '%lease expired%')`).Scan(&requeued); err != nil {
		t.Fatal(err)
	}
	if requeued != inFlight {
		t.Errorf("%d jobs re-queued for an expired lease, want the %d the node was running", requeued, inFlight)
	}
	if w := c.workersByNode(t, ctl); w[id1] != 0 {
		t.Errorf("the dead node still has %d workers in the workers view", w[id1])
	}

	c.start(t, filepath.Join(t.TempDir(), "d2"), "data")
	eventually(t, "every delivery completes on the other data node", func() bool {
		var n int
		if err := c.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'picloud_delivery' AND state = 'completed'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == events
	})
	rows, err := c.db.Query(ctx, `SELECT convert_from(result, 'UTF8'), count(*) FROM invocations
		WHERE function = 'sink' AND status = 'succeeded' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		got[k] = n
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for i := range events {
		if got[fmt.Sprint(i)] != 1 {
			t.Errorf("event %d recorded as a success %d times, want once (all: %v)", i, got[fmt.Sprint(i)], got)
		}
	}
	t.Logf("%d deliveries in flight on the killed node were re-queued; all %d completed once", inFlight, events)
}
