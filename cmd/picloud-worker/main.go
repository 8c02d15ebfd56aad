// Command picloud-worker runs one PiCloud function in a sandboxed
// subprocess. `picloud serve` starts it through go-plugin; it is kept apart
// from the main binary so that a cold start execs and initialises only the
// Lua VM, go-plugin and the protocol. See package worker.
package main

import (
	"os"

	"github.com/picloud/picloud/worker"
)

func main() {
	os.Exit(worker.Main(os.Args[1:]))
}
