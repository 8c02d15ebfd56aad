package cli

import (
	"context"
	"fmt"

	"github.com/picloud/picloud/worker"
)

// workerCommand is the hidden `picloud worker`: the supervisor re-executes
// this binary with it when the companion picloud-worker binary is not next
// to picloud. It runs worker.Main, which refuses to run without the
// supervisor's handshake.
func workerCommand() *command {
	return &command{
		Name:    "worker",
		Args:    "",
		Summary: "internal: run one function for picloud serve",
		Description: `Runs one function version for picloud serve, which starts it (from the
companion binary picloud-worker when present, else as picloud worker) and
talks to it over go-plugin. With the argument validate, it compiles the
Lua source on its standard input (sandboxed, limited) and prints the result:
serve checks deployed scripts this way. It is not meant to be run by hand.`,
		Hidden: true,
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			if len(args) > 0 && isHelpArg(args[0]) {
				fmt.Fprintf(a.env.Stdout, "usage: picloud worker [validate]\n\n%s\n", c.Description)
				return errHelpShown
			}
			if code := worker.Main(args); code != 0 {
				return exitCodeError(code)
			}
			return nil
		},
	}
}
