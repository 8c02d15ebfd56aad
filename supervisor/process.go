package supervisor

import (
	"context"
	"time"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// process is one started worker subprocess with its function loaded: the
// seam between the pool logic and go-plugin. The production implementation
// is pluginProcess; pool-logic tests may use a fake one.
type process interface {
	// PID is the operating-system process id.
	PID() int
	// Call runs one invocation, which the worker ends at deadline. A
	// failure inside the call that the worker survived is a
	// *protocol.CallError; any other error means the transport broke (the
	// worker died or was killed).
	Call(ctx context.Context, req *protocol.Request, deadline time.Time) (*protocol.Response, error)
	// Kill sends SIGKILL to the process (and its cgroup); it returns at
	// once. Killing an exited process does nothing.
	Kill()
	// Done is closed once the process has exited and been reaped.
	Done() <-chan struct{}
	// ExitStatus describes how the process ended ("signal 9", "status 2");
	// valid after Done.
	ExitStatus() string
	// Close releases the client side (connections, go-plugin goroutines);
	// call it after Done.
	Close()
}

// launcher starts worker processes.
type launcher interface {
	// launch starts a worker for fn inside cg (nil: no cgroup), completes
	// the handshake and loads fn's source.
	launch(ctx context.Context, fn functions.Spec, cg *workerCgroup) (process, error)
	// validate compiles source in a worker process in validate mode inside
	// cg (nil: no cgroup), killing it when ctx ends. It returns nil, a
	// *protocol.SyntaxError, or why the validator could not answer.
	validate(ctx context.Context, source string, cg *workerCgroup) error
	// close releases what the launcher holds (its spawner thread); called
	// by Stop once every worker is gone.
	close()
}
