package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/supervisor"
)

// The life of a supervisor: start it, run a function (the first call starts
// its worker, later ones reuse it), stop it. Not run as a test: it needs
// the worker binary next to the executable (the tests build one).
func ExampleSupervisor() {
	sup, err := supervisor.New(supervisor.Config{
		Host:         protocol.NewMemoryHost(), // kv and secrets; store/ has the real one
		QueueTimeout: 2 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	if err := sup.Start(context.Background()); err != nil {
		panic(err)
	}
	defer sup.Stop()

	fn := functions.Spec{
		Name:    "hello",
		Version: 1,
		Source:  `function handle(req) return "hello " .. req.path end`,
		Limits:  functions.DefaultLimits(),
	}
	resp, err := sup.Invoke(context.Background(), fn, &protocol.Request{Method: "GET", Path: "/world", Trigger: protocol.TriggerHTTP})
	var ie *supervisor.InvokeError
	switch {
	case errors.Is(err, supervisor.ErrOverloaded):
		fmt.Println("503, retry later")
	case errors.As(err, &ie):
		fmt.Println("failed:", ie.Kind, ie.Message) // e.g. timeout "timed out after 10s"
	case err != nil:
		fmt.Println("error:", err)
	default:
		fmt.Println(resp.Status, string(resp.Body))
	}
	fmt.Println(sup.Status().LimitsMode)
}
