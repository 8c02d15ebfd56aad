package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// Defaults of the node registry.
const (
	DefaultHeartbeat = 2 * time.Second
	DefaultLease     = 10 * time.Second
)

// nodeAgent keeps this node's row in the registry: a heartbeat every
// interval carrying its worker pool status, and on each the reaping of
// nodes whose lease expired (their running jobs are re-queued at once).
type nodeAgent struct {
	st       *store.Store
	sup      *supervisor.Supervisor
	log      hclog.Logger
	node     store.Node // the static fields
	interval time.Duration
	done     chan struct{}
	// fence, if set, is told when the node loses its lease (true: it
	// must stop claiming work) and when it has it again (false).
	fence func(bool)
	// lastOK is when the last successful heartbeat was sent (unix nanos).
	lastOK atomic.Int64

	joined bool // owned by run's goroutine
	fenced bool // owned by run's goroutine
}

func newNodeAgent(st *store.Store, sup *supervisor.Supervisor, node store.Node, interval time.Duration, log hclog.Logger) *nodeAgent {
	a := &nodeAgent{st: st, sup: sup, node: node, interval: interval, log: log.Named("node"), done: make(chan struct{})}
	a.lastOK.Store(time.Now().UnixNano()) // start-up reached the database
	return a
}

// errHeartbeatStale is ready's answer when the heartbeat is late.
var errHeartbeatStale = errors.New("this node cannot reach the database (no heartbeat)")

// ready is nil while the node's last successful heartbeat is at most two
// intervals old: a node that cannot reach its database fails /readyz
// within two heartbeats (Caddy then takes it out of the rotation).
func (a *nodeAgent) ready() error {
	if time.Since(time.Unix(0, a.lastOK.Load())) > 2*a.interval+a.interval/2 {
		return errHeartbeatStale
	}
	return nil
}

// checkFence fences the node once no heartbeat succeeded for half its
// lease (well before another node can reap it), and lifts the fence once
// one does.
func (a *nodeAgent) checkFence() {
	stale := time.Since(time.Unix(0, a.lastOK.Load())) > a.node.Lease/2
	if stale == a.fenced || a.fence == nil {
		return
	}
	a.fenced = stale
	if stale {
		a.log.Warn("no heartbeat for half the lease: this node stops claiming work until it reaches the database again", "lease", a.node.Lease.String())
	} else {
		a.log.Info("heartbeat restored: claiming work again")
	}
	a.fence(stale)
}

// run beats until ctx ends, then removes the node's row.
func (a *nodeAgent) run(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		a.beat(ctx)
		select {
		case <-ctx.Done():
			leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := a.st.LeaveNode(leaveCtx, a.node.ID); err != nil {
				a.log.Warn("could not leave the node registry", "error", err)
			}
			return
		case <-t.C:
		}
	}
}

// beat sends one heartbeat and reaps the dead nodes it reports.
func (a *nodeAgent) beat(ctx context.Context) {
	n := a.node
	st := a.sup.Status()
	pool, err := json.Marshal(api.WorkersView(st, n.ID))
	if err != nil {
		a.log.Warn("encode pool status", "error", err)
	}
	n.Pool = pool
	n.Workers = len(st.Workers)
	for _, w := range st.Workers {
		n.InFlight += w.InFlight
	}
	n.Load = loadAverage()
	bctx, cancel := context.WithTimeout(ctx, max(a.interval, time.Second))
	defer cancel()
	sent := time.Now()
	dead, inserted, err := a.st.Heartbeat(bctx, n)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("heartbeat failed", "error", err)
		}
		a.checkFence()
		return
	}
	a.lastOK.Store(sent.UnixNano())
	a.checkFence()
	if inserted && a.joined {
		a.log.Warn("this node's lease had expired: other nodes may have re-queued its jobs; it rejoined", "node", n.ID)
	}
	if inserted && !a.joined {
		a.log.Info("joined the cluster", "node", n.ID, "address", n.Address, "roles", strings.Join(n.Roles, ","))
	}
	a.joined = true
	for _, id := range dead {
		reaped, jobs, err := a.st.ReapNode(bctx, id)
		switch {
		case err != nil:
			a.log.Warn("reap dead node", "node", id, "error", err)
		case reaped:
			a.log.Warn("node stopped heartbeating: removed it and re-queued its running jobs", "node", id, "jobs", jobs)
		}
	}
}

// wait returns once run has left the registry.
func (a *nodeAgent) wait() { <-a.done }

// loadAverage is the 1-minute load average, 0 where /proc has none.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

var nodeNameRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// newNodeID is the host's name and a random suffix: unique per process
// start, so a restarted node is a new node (the old one's jobs are
// re-queued once its lease expires).
func newNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	host = nodeNameRE.ReplaceAllString(host, "-")
	if len(host) > 40 {
		host = host[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
