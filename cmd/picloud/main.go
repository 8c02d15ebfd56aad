// Command picloud is the whole of PiCloud: the server, the CLI and the
// worker, each a subcommand. See `picloud --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/picloud/picloud/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
