package events

import (
	"testing"

	"github.com/picloud/picloud/invoke"
)

// namedInvoker is a runner that says what it is in benchmark output.
type namedInvoker interface {
	invoke.Runner
	name() string
}

func (q *queueTestInvoker) name() string { return "queue-test (Go handler, no worker process)" }

// benchInvoker returns the invoker the throughput benchmark runs.
func benchInvoker(t *testing.T, b *testBundle) namedInvoker {
	t.Helper()
	return b.inv
}
