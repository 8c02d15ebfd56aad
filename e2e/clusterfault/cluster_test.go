// Package clusterfault proves a PiCloud cluster under faults: real
// `picloud serve` nodes, Caddy (configured from
// packaging/Caddyfile.cluster.example) and PostgreSQL, each in a network
// namespace of its own made by the test, linked by veth pairs to two
// bridges; nodes are killed, cut off from the database and restarted, and
// PostgreSQL is restarted, under bounded load through Caddy. Run by
// `make test-cluster` (root, iproute2, Caddy, PostgreSQL).
package clusterfault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picloud/picloud/internal/e2etest"
)

// Node timings of the lab: the product's defaults (PICLOUD_TEST_HEARTBEAT
// and PICLOUD_TEST_LEASE override them, say 500ms and 3s for a quicker
// run); the drain delay (PICLOUD_TEST_DRAIN_DELAY) is above Caddy's
// health_interval (2s in the example Caddyfile) plus its health_timeout
// (1s).
var (
	heartbeat  = envDuration("PICLOUD_TEST_HEARTBEAT", 2*time.Second)
	lease      = envDuration("PICLOUD_TEST_LEASE", 10*time.Second)
	drainDelay = envDuration("PICLOUD_TEST_DRAIN_DELAY", 3500*time.Millisecond)
)

// envDuration is the duration in $name, else def.
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// Addresses in the lab.
const (
	pgOctet     = 1
	caddyOctet  = 2
	clientOctet = 100
	caddyURL    = "http://" + frontNet + "2"
)

// cluster is PostgreSQL, one control node, data nodes and Caddy.
type cluster struct {
	*lab
	bin     string // picloud
	dataDir string // shared by the nodes: one admin token, one secret key
	dbURL   string
	pg      *proc
	pgBin   string
	pgData  string
	nodes   []*node
	caddy   *proc
	admin   string
	http    *http.Client
	db      *pgx.Conn
}

// node is one `picloud serve` of the cluster.
type node struct {
	name  string // its namespace
	octet int
	roles string
	p     *proc
}

func (n *node) url() string  { return fmt.Sprintf("http://%s%d:8080", frontNet, n.octet) }
func (n *node) addr() string { return fmt.Sprintf("%s%d:8080", frontNet, n.octet) }

// newCluster builds the lab and starts PostgreSQL, the control node,
// `data` data nodes and Caddy.
func newCluster(t *testing.T, data int) *cluster {
	t.Helper()
	needLab(t)
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("the cluster fault tests need caddy (make test-cluster installs it)")
	}
	c := &cluster{lab: newLab(t), bin: filepath.Join(e2etest.Bins(t), "picloud")}
	c.dataDir = filepath.Join(c.dir, "data")
	c.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: c.dialer("client"), MaxIdleConnsPerHost: 64,
	}}
	c.addHost("pg", pgOctet, false, true)
	c.addHost("caddy", caddyOctet, true, false)
	c.addHost("client", clientOctet, true, true)
	c.startPG(t)
	c.nodes = append(c.nodes, &node{name: "ctl", octet: 10, roles: "control"})
	for i := range data {
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("d%d", i+1), octet: 11 + i, roles: "data"})
	}
	for _, n := range c.nodes {
		c.addHost(n.name, n.octet, true, true)
	}
	c.startNode(t, c.nodes[0]) // migrates, writes admin.token and secret.key
	tok, err := os.ReadFile(filepath.Join(c.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c.admin = strings.TrimSpace(string(tok))
	for _, n := range c.nodes[1:] {
		c.startNode(t, n)
	}
	c.startCaddy(t, caddy)
	return c
}

// startPG initialises a database cluster and runs it in the pg namespace.
func (c *cluster) startPG(t *testing.T) {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		t.Skip("the cluster fault tests need PostgreSQL (scripts/pg.sh installs it)")
	}
	sort.Strings(dirs)
	c.pgBin = filepath.Dir(dirs[len(dirs)-1])
	pgDir := filepath.Join(c.dir, "pg")
	c.pgData = filepath.Join(pgDir, "data")
	// postgres must reach its directory (t.TempDir is 0700): open the
	// directories below the temporary directory, never that one itself
	// (/tmp is 1777: 0755 would lock every other user out of it).
	for d := pgDir; d != "/" && d != filepath.Clean(os.TempDir()); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	if err := os.MkdirAll(pgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		if out, err := exec.Command("chown", args...).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	run("postgres:postgres", pgDir)
	if out, err := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(c.pgBin, "initdb"),
		"-D", c.pgData, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v %s", err, out)
	}
	hba, err := os.OpenFile(filepath.Join(c.pgData, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(hba, "host all all %s0/24 trust\n", backNet)
	hba.Close()
	c.runPG(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conn *pgx.Conn
	for {
		conn, err = c.connect(ctx, "postgres")
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("postgres did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE picloud"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	c.dbURL = fmt.Sprintf("postgres://postgres@%s%d:5432/picloud?sslmode=disable", backNet, pgOctet)
	if c.db, err = c.connect(ctx, "picloud"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.db.Close(context.Background()) })
}

// runPG starts the postmaster (as postgres, in the pg namespace).
func (c *cluster) runPG(t *testing.T) {
	c.pg = c.start("postgres", "pg", nil, "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
		filepath.Join(c.pgBin, "postgres"), "-D", c.pgData,
		"-c", fmt.Sprintf("listen_addresses=%s%d", backNet, pgOctet), "-c", "port=5432",
		"-c", "unix_socket_directories="+filepath.Dir(c.pgData), "-c", "max_connections=200",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "dynamic_shared_memory_type=mmap", "-c", "shared_buffers=32MB")
}

// connect opens a connection to database db from the client namespace.
func (c *cluster) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://postgres@%s%d:5432/%s?sslmode=disable&connect_timeout=3", backNet, pgOctet, db))
	if err != nil {
		return nil, err
	}
	cfg.DialFunc = c.dialer("client")
	return pgx.ConnectConfig(ctx, cfg)
}

// query reads one integer from the database (reconnecting when the test's
// connection was lost, say after a PostgreSQL restart).
func (c *cluster) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	err := c.db.QueryRow(ctx, sql, args...).Scan(&n)
	if err != nil && c.db.IsClosed() {
		if c.db, err = c.connect(ctx, "picloud"); err == nil {
			err = c.db.QueryRow(ctx, sql, args...).Scan(&n)
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// backends counts PostgreSQL backends per node (by its address on the
// back network), the test's own connection left out.
func (c *cluster) backends(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, n := range c.nodes {
		out[n.name] = c.count(t, `SELECT count(*) FROM pg_stat_activity WHERE client_addr = $1::inet`,
			fmt.Sprintf("%s%d", backNet, n.octet))
	}
	return out
}

// startNode starts n and waits until its /readyz answers 200.
func (c *cluster) startNode(t *testing.T, n *node) {
	t.Helper()
	env := e2etest.Environ("DATABASE_URL=" + c.dbURL)
	n.p = c.start(n.name, n.name, env, c.bin, "serve", "--listen", n.addr(), "--data-dir", c.dataDir,
		"--roles", n.roles, "--heartbeat", heartbeat.String(), "--lease", lease.String(),
		"--drain-delay", drainDelay.String(), "--log-level", "info", "--retry-base", "200ms")
	deadline := time.Now().Add(90 * time.Second)
	for {
		if c.ready(n) {
			return
		}
		select {
		case <-n.p.exited:
			t.Fatalf("%s exited at start: %v\n%s", n.name, n.p.err, n.p.tail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 90s\n%s", n.name, n.p.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ready says n's /readyz answers 200 (within a second).
func (c *cluster) ready(n *node) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url()+"/readyz", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stopNode sends SIGTERM and waits for a clean exit.
func (c *cluster) stopNode(t *testing.T, n *node) {
	t.Helper()
	n.p.signal(syscall.SIGTERM)
	if err := n.p.wait(60 * time.Second); err != nil {
		t.Fatalf("%s after SIGTERM: %v\n%s", n.name, err, n.p.tail(40))
	}
}

// startCaddy runs Caddy with packaging/Caddyfile.cluster.example, its
// addresses replaced by the lab's.
func (c *cluster) startCaddy(t *testing.T, bin string) {
	t.Helper()
	src, err := os.ReadFile("../../packaging/Caddyfile.cluster.example")
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, n := range c.nodes[1:] {
		data = append(data, n.addr())
	}
	conf := string(src)
	for _, r := range []struct{ old, new string }{
		{"picloud.example.com {", fmt.Sprintf("http://%s%d:80 {", frontNet, caddyOctet)},
		{"reverse_proxy 10.0.0.11:8080 10.0.0.12:8080 {", "reverse_proxy " + strings.Join(data, " ") + " {"},
		{"reverse_proxy 10.0.0.10:8080 {", "reverse_proxy " + c.nodes[0].addr() + " {"},
	} {
		if !strings.Contains(conf, r.old) {
			t.Fatalf("the example Caddyfile no longer has %q: update this test", r.old)
		}
		conf = strings.ReplaceAll(conf, r.old, r.new)
	}
	conf = "{\n\tadmin off\n\tauto_https off\n}\n\n" + conf
	dir := filepath.Join(c.dir, "caddy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	c.caddy = c.start("caddy", "caddy", env, bin, "run", "--adapter", "caddyfile", "--config", path)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := c.do(http.MethodGet, caddyURL+"/api/v1/nodes", c.admin, nil)
		if err == nil && r.status == http.StatusOK {
			return
		}
		select {
		case <-c.caddy.exited:
			t.Fatalf("caddy exited: %v\n%s", c.caddy.err, c.caddy.tail(20))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy does not proxy: %v %+v\n%s", err, r, c.caddy.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answer is an HTTP answer.
type answer struct {
	status int
	body   []byte
}

// do sends one request from the client namespace.
func (c *cluster) do(method, url, token string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}, err
}

// api sends a control-plane request through Caddy and fails the test
// unless it answers want.
func (c *cluster) api(t *testing.T, method, path string, body any, want int) answer {
	t.Helper()
	r, err := c.do(method, caddyURL+path, c.admin, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d %s (want %d)", method, path, r.status, r.body, want)
	}
	return r
}

// nodeIDs maps each live node's address to its id (GET /api/v1/nodes).
func (c *cluster) nodeIDs(t *testing.T) map[string]string {
	t.Helper()
	var list struct {
		Nodes []struct {
			ID      string `json:"id"`
			Address string `json:"address"`
			Alive   bool   `json:"alive"`
		} `json:"nodes"`
	}
	r := c.api(t, http.MethodGet, "/api/v1/nodes", nil, http.StatusOK)
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range list.Nodes {
		out[n.Address] = n.ID
	}
	return out
}

// workers counts GET /api/v1/workers's workers per node id.
func (c *cluster) workers(t *testing.T) map[string]int {
	t.Helper()
	var ws struct {
		Workers []struct {
			Node string `json:"node"`
		} `json:"workers"`
	}
	r := c.api(t, http.MethodGet, "/api/v1/workers", nil, http.StatusOK)
	if err := json.Unmarshal(r.body, &ws); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, w := range ws.Workers {
		out[w.Node]++
	}
	return out
}

// eventually polls cond every 50 ms for up to d and returns how long it
// took; it fails the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}
