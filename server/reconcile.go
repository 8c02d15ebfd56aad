package server

import (
	"context"
	"errors"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// reconciler brings this node's supervisor in line with function changes
// committed anywhere in the cluster (heard through the function cache's
// LISTEN): the pool of a deleted function is removed at once, and so is a
// pool running a version newer than the current one (a rollback), which
// the supervisor would otherwise keep. Deploys of newer versions need
// nothing: the next call replaces the pool.
type reconciler struct {
	sup   *supervisor.Supervisor
	cache *store.FunctionCache
	log   hclog.Logger

	mu      sync.Mutex
	pending map[string]bool // "" means every function
	wake    chan struct{}
	done    chan struct{}
}

func newReconciler(sup *supervisor.Supervisor, log hclog.Logger) *reconciler {
	return &reconciler{sup: sup, log: log.Named("reconcile"), pending: map[string]bool{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// changed is the cache's OnChange: it only records the name (never blocks).
func (r *reconciler) changed(name string) {
	r.mu.Lock()
	r.pending[name] = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run works through the changes until ctx ends.
func (r *reconciler) run(ctx context.Context) {
	defer close(r.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		r.mu.Lock()
		names := r.pending
		r.pending = map[string]bool{}
		r.mu.Unlock()
		running := map[string]int{} // function → newest version with workers
		for _, w := range r.sup.Status().Workers {
			if w.State != "stopping" {
				running[w.Function] = max(running[w.Function], w.Version)
			}
		}
		if names[""] {
			for fn := range running {
				names[fn] = true
			}
			delete(names, "")
		}
		for name := range names {
			v, ok := running[name]
			if !ok {
				continue // no workers: the next call starts the right version
			}
			f, err := r.cache.Get(ctx, name)
			switch {
			case errors.Is(err, store.ErrNotFound):
				r.log.Debug("function deleted elsewhere: removing its pool", "function", name)
				r.sup.Remove(name)
			case err != nil:
				r.log.Warn("reconcile function", "function", name, "error", err)
			case v > f.CurrentVersion:
				r.log.Info("function rolled back: replacing its pool", "function", name, "version", f.CurrentVersion)
				r.sup.Remove(name)
			}
		}
	}
}
