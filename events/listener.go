package events

import (
	"context"
	"strconv"
	"time"

	"github.com/picloud/picloud/store"
)

// subscribe feeds the hub, the scheduler and the River runner from n: new
// events, schedule changes and River's job insertions anywhere in the
// cluster. After a lost connection comes back, each catches up (the hub
// from the log, the scheduler from the table, the runner by looking for
// work), since notifications may have been missed.
func (s *Service) subscribe(n *store.Notifier) {
	n.Subscribe(store.EventsChannel, func(payload string) {
		if id, err := strconv.ParseInt(payload, 10, 64); err == nil {
			s.hub.advance(id)
		}
	}, func(up bool) {
		if !up {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if last, err := s.st.LastEventID(ctx); err == nil {
			s.hub.advance(last)
		}
	})
	n.Subscribe(store.SchedulesChannel, func(string) { s.sched.poke() }, func(up bool) {
		if up {
			s.sched.poke()
		}
	})
	n.Subscribe(store.SchemaPrefix+store.RiverInsertChannel(""), func(string) { s.runner.poke() }, func(up bool) {
		if up {
			s.runner.poke()
		}
	})
	n.Subscribe(store.TokensChannel, func(payload string) {
		// A notification says a token changed (created or revoked): the
		// re-check reads the liveness of the tokens with open streams and
		// closes those of a revoked one. A new token's notification must
		// not close anything, so nothing is dropped on the payload alone.
		if id, err := strconv.ParseInt(payload, 10, 64); err != nil || s.hub.hasToken(id) {
			s.pokeRecheck()
		}
	}, func(up bool) {
		if up {
			s.pokeRecheck()
		}
	})
}
