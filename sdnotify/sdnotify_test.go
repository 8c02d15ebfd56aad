package sdnotify

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listen opens a unixgram socket like systemd's notify socket and returns
// its address and a function reading the next datagram.
func listen(t *testing.T, name string) (string, func() string) {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on %q: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return name, func() string {
		t.Helper()
		buf := make([]byte, 4096)
		if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read notification: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotify_SendsStatesToNotifySocket(t *testing.T) {
	sock, next := listen(t, filepath.Join(t.TempDir(), "notify"))
	t.Setenv("NOTIFY_SOCKET", sock)

	steps := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", Ready, "READY=1"},
		{"status", func() error { return Status("serving\non :8080") }, "STATUS=serving on :8080"},
		{"stopping", Stopping, "STOPPING=1"},
	}
	for _, s := range steps {
		if err := s.send(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := next(); got != s.want {
			t.Fatalf("%s: socket got %q, want %q", s.name, got, s.want)
		}
	}
}

func TestNotify_AbstractSocket(t *testing.T) {
	name := "@picloud-sdnotify-test-" + strconv.Itoa(os.Getpid())
	_, next := listen(t, name)
	t.Setenv("NOTIFY_SOCKET", name)
	if err := Ready(); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "READY=1" {
		t.Fatalf("got %q, want READY=1", got)
	}
}

func TestNotify_NoSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Ready(); err != nil {
		t.Fatalf("without NOTIFY_SOCKET Ready must do nothing, got %v", err)
	}
}

func TestNotify_MissingSocketIsAnError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	if err := Ready(); err == nil {
		t.Fatal("want an error for a socket that does not exist")
	}
	t.Setenv("NOTIFY_SOCKET", "relative/path")
	if err := Ready(); err == nil {
		t.Fatal("want an error for a relative socket path")
	}
}

func TestWatchdogInterval(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	tests := []struct {
		name, usec, pid string
		want            time.Duration
		ok              bool
	}{
		{"unset", "", "", 0, false},
		{"set for us", "30000000", me, 30 * time.Second, true},
		{"set without pid", "2000000", "", 2 * time.Second, true},
		{"set for another pid", "30000000", "1", 0, false},
		{"garbage", "soon", me, 0, false},
		{"zero", "0", me, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			got, ok := WatchdogInterval()
			if got != tt.want || ok != tt.ok {
				t.Fatalf("WatchdogInterval() = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestWatchdog_PingsUntilCanceled(t *testing.T) {
	sock, next := listen(t, filepath.Join(t.TempDir(), "notify"))
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Watchdog(ctx); close(done) }()
	for i := 0; i < 3; i++ {
		if got := next(); got != "WATCHDOG=1" {
			t.Fatalf("ping %d: got %q", i, got)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Watchdog did not return after cancel")
	}
}

func TestWatchdog_ReturnsAtOnceWhenDisabled(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	done := make(chan struct{})
	go func() { Watchdog(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Watchdog without WATCHDOG_USEC must return at once")
	}
}
