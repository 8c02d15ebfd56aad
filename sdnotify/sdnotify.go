// Package sdnotify tells systemd about the state of a Type=notify service
// (sd_notify(3)): READY=1 once serving, STOPPING=1 on the way out and
// WATCHDOG=1 keep-alives when the unit sets WatchdogSec=. It uses only the
// standard library, like Caddy's notify package, and does nothing when the
// process was not started by systemd ($NOTIFY_SOCKET unset).
//
// Every function reads the environment when called: the package holds no
// state of its own.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The states this package sends; Notify accepts any other sd_notify(3)
// assignment too.
const (
	StateReady     = "READY=1"
	StateStopping  = "STOPPING=1"
	StateReloading = "RELOADING=1"
	StateWatchdog  = "WATCHDOG=1"
)

// Notify sends state (one or more newline-separated sd_notify(3)
// assignments, such as "READY=1\nSTATUS=serving") to the socket named by
// $NOTIFY_SOCKET. It returns nil without doing anything when that variable
// is unset, so callers need not know whether systemd started them.
func Notify(state string) error {
	return NotifySocket(os.Getenv("NOTIFY_SOCKET"), state)
}

// NotifySocket is Notify with an explicit socket path (an abstract socket
// starts with '@'); an empty path does nothing.
func NotifySocket(socket, state string) error {
	if socket == "" {
		return nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return fmt.Errorf("notify systemd: unsupported NOTIFY_SOCKET %q", socket)
	}
	if strings.HasPrefix(socket, "@") {
		socket = "\x00" + socket[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify systemd: dial %s: %w", strings.TrimPrefix(socket, "\x00"), err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd: send %q: %w", state, err)
	}
	return nil
}

// Ready tells systemd the service is up (READY=1): call it once the
// migrations ran and the listener accepts connections.
func Ready() error { return Notify(StateReady) }

// Stopping tells systemd the service is shutting down (STOPPING=1): call it
// when the drain begins.
func Stopping() error { return Notify(StateStopping) }

// Status sets the free-form status line shown by `systemctl status`.
func Status(msg string) error {
	return Notify("STATUS=" + strings.ReplaceAll(msg, "\n", " "))
}

// WatchdogInterval returns how often systemd expects WATCHDOG=1, read from
// $WATCHDOG_USEC, and whether the watchdog is enabled for this process
// ($WATCHDOG_PID, when set, must be our pid). Ping at half the interval.
func WatchdogInterval() (time.Duration, bool) {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" {
		if n, err := strconv.Atoi(pid); err != nil || n != os.Getpid() {
			return 0, false
		}
	}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond, true
}

// Watchdog sends WATCHDOG=1 at half the interval systemd asked for until
// ctx is done. It returns at once when the unit has no WatchdogSec= (so it
// costs nothing by default) and otherwise wakes once per half interval: the
// only timer of an idle server, and only when the administrator asked for it.
// Run it in its own goroutine; send errors are ignored (systemd notices a
// missing ping, which is the point).
func Watchdog(ctx context.Context) {
	interval, ok := WatchdogInterval()
	if !ok {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	_ = Notify(StateWatchdog)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = Notify(StateWatchdog)
		}
	}
}
