package sdnotify_test

import (
	"context"
	"log"

	"github.com/picloud/picloud/sdnotify"
)

// A Type=notify service reports READY=1 once it serves, keeps the watchdog
// fed if the unit asks for it, and reports STOPPING=1 when it drains.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sdnotify.Watchdog(ctx) // returns at once without WatchdogSec=

	// ... migrations ran, the listener is up ...
	if err := sdnotify.Ready(); err != nil {
		log.Printf("notify systemd: %v", err)
	}

	// ... SIGTERM received, drain begins ...
	_ = sdnotify.Stopping()
}
