package outbound

import "context"

// workerSlots bounds the requests one worker process has in flight.
type workerSlots struct {
	ch    chan struct{}
	users int
}

// acquire takes one of the worker's in-flight slots, waiting for ctx.
func (c *Client) acquire(ctx context.Context, worker uint64) (release func(), err error) {
	c.mu.Lock()
	ws := c.slots[worker]
	if ws == nil {
		ws = &workerSlots{ch: make(chan struct{}, c.cfg.MaxInFlight)}
		c.slots[worker] = ws
	}
	ws.users++
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		if ws.users--; ws.users == 0 {
			delete(c.slots, worker)
		}
		c.mu.Unlock()
	}
	select {
	case ws.ch <- struct{}{}:
		return func() { <-ws.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
