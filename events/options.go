package events

import "time"

// Options are the events settings of `picloud serve` (flags), applied over
// the Config defaults; zero fields keep the defaults.
type Options struct {
	// RetryBase is --retry-base (default 1s).
	RetryBase time.Duration
	// Workers is the number of jobs this node works at once.
	Workers int
	// RescueAfter: jobs of a dead node are retried after this.
	RescueAfter time.Duration
	// EventRetention, InvocationRetention: pruning ages.
	EventRetention      time.Duration
	InvocationRetention time.Duration
	// MaxStreamsPerToken is --max-streams-per-token.
	MaxStreamsPerToken int
	// MaxQueuedCalls, MaxQueuedBytes are --max-queued-calls and
	// --max-queued-bytes: the bound of one function's waiting async calls.
	MaxQueuedCalls int
	MaxQueuedBytes int64
	// NoJobs: this node queues jobs but never works them (a node without
	// the data role).
	NoJobs bool
	// NoScheduler: this node does not fire cron ticks (a node without the
	// control role).
	NoScheduler bool
}

// WithOptions returns c with the non-zero fields of o set.
func (c Config) WithOptions(o Options) Config {
	if o.RetryBase > 0 {
		c.RetryBase = o.RetryBase
	}
	if o.Workers > 0 {
		c.Workers = o.Workers
	}
	if o.RescueAfter > 0 {
		c.RescueAfter = o.RescueAfter
	}
	if o.EventRetention > 0 {
		c.EventRetention = o.EventRetention
	}
	if o.InvocationRetention > 0 {
		c.InvocationRetention = o.InvocationRetention
	}
	if o.MaxQueuedCalls > 0 {
		c.MaxQueuedCalls = o.MaxQueuedCalls
	}
	if o.MaxQueuedBytes > 0 {
		c.MaxQueuedBytes = o.MaxQueuedBytes
	}
	if o.MaxStreamsPerToken > 0 {
		c.MaxStreamsPerToken = o.MaxStreamsPerToken
	}
	c.NoJobs = c.NoJobs || o.NoJobs
	c.NoScheduler = c.NoScheduler || o.NoScheduler
	return c
}
