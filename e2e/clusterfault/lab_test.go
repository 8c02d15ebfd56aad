package clusterfault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lab is a private network made of network namespaces: one "switch"
// namespace holding two bridges, front (10.77.1.0/24: Caddy, the nodes'
// HTTP, the test's client) and back (10.77.2.0/24: PostgreSQL and the
// nodes' database links), and one namespace per host, linked to the
// bridges by veth pairs. No interface or address of the lab exists in the
// test's own namespace; the test reaches it through sockets opened inside
// its client namespace (dialer).
type lab struct {
	t      *testing.T
	prefix string // namespace names start with it (unique per run)
	dir    string

	mu    sync.Mutex
	names []string // namespaces, in creation order
	procs []*proc
}

// Subnets of the lab.
const (
	frontNet = "10.77.1."
	backNet  = "10.77.2."
)

// needLab skips the test unless it can build a lab: root, the ip tool with
// network namespace support.
func needLab(t *testing.T) {
	t.Helper()
	if os.Getenv("PICLOUD_TEST_CLUSTER") == "" {
		t.Skip("the cluster fault tests run under `make test-cluster` (PICLOUD_TEST_CLUSTER=1)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the cluster fault tests need root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the cluster fault tests need the ip tool (iproute2)")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		t.Skipf("ip netns is unavailable: %v %s", err, out)
	}
}

// newLab creates the switch namespace with its two bridges; t.Cleanup
// kills every process the lab started and deletes its namespaces, also
// when the test fails.
func newLab(t *testing.T) *lab {
	t.Helper()
	removeStaleNamespaces(t)
	var b [2]byte
	_, _ = rand.Read(b[:])
	l := &lab{t: t, prefix: fmt.Sprintf("pcf%d.%s-", os.Getpid(), hex.EncodeToString(b[:])), dir: t.TempDir()}
	t.Cleanup(l.teardown)
	sw := l.addNS("sw")
	l.ip("-n", sw, "link", "add", "front", "type", "bridge")
	l.ip("-n", sw, "link", "add", "back", "type", "bridge")
	l.ip("-n", sw, "link", "set", "front", "up")
	l.ip("-n", sw, "link", "set", "back", "up")
	return l
}

// staleRE matches a lab namespace's name; it holds the pid of the test
// process that made it.
var staleRE = regexp.MustCompile(`^pcf([0-9]+)\.[0-9a-f]+-`)

// removeStaleNamespaces deletes the namespaces of labs whose test process
// is gone (killed by a timeout before its cleanup ran).
func removeStaleNamespaces(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := staleRE.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // its test still runs
		}
		if out, err := exec.Command("ip", "netns", "del", f[0]).CombinedOutput(); err != nil {
			t.Logf("delete stale namespace %s: %v %s", f[0], err, out)
		}
	}
}

// ns is the full name of namespace name.
func (l *lab) ns(name string) string { return l.prefix + name }

// addNS creates namespace name with its loopback up.
func (l *lab) addNS(name string) string {
	full := l.ns(name)
	l.ip("netns", "add", full)
	l.mu.Lock()
	l.names = append(l.names, full)
	l.mu.Unlock()
	l.ip("-n", full, "link", "set", "lo", "up")
	return full
}

// addHost creates namespace name linked to the front bridge as eth0 with
// 10.77.1.<octet> and, if back, to the back bridge as eth1 with
// 10.77.2.<octet>.
func (l *lab) addHost(name string, octet int, front, back bool) {
	full := l.addNS(name)
	link := func(bridge, dev, ip string) {
		peer := bridge[:1] + name // in the switch namespace
		l.ip("-n", l.ns("sw"), "link", "add", peer, "type", "veth", "peer", "name", dev, "netns", full)
		l.ip("-n", l.ns("sw"), "link", "set", peer, "master", bridge, "up")
		l.ip("-n", full, "addr", "add", ip+"/24", "dev", dev)
		l.ip("-n", full, "link", "set", dev, "up")
	}
	if front {
		link("front", "eth0", fmt.Sprintf("%s%d", frontNet, octet))
	}
	if back {
		link("back", "eth1", fmt.Sprintf("%s%d", backNet, octet))
	}
}

// ip runs the ip tool and fails the test when it fails.
func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
	}
}

// teardown kills the lab's processes (by PID) and deletes its namespaces.
func (l *lab) teardown() {
	l.mu.Lock()
	procs, names := l.procs, l.names
	l.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- { // Caddy and the nodes before PostgreSQL
		procs[i].kill()
	}
	for i := len(names) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", names[i]).CombinedOutput(); err != nil {
			l.t.Errorf("delete namespace %s: %v %s", names[i], err, out)
		}
	}
	if l.t.Failed() {
		for _, p := range procs {
			l.t.Logf("--- %s log (last lines):\n%s", p.name, p.tail(60))
		}
	}
}

// proc is a process the lab started inside one of its namespaces.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
}

// start runs argv inside namespace ns (ip netns exec execs it, so the pid
// is the program's own), its output in a log file.
func (l *lab) start(name, ns string, env []string, argv ...string) *proc {
	l.t.Helper()
	logPath := filepath.Join(l.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(ns)}, argv...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p
}

// signal sends sig to the process (by its pid).
func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.exited
}

// wait waits up to d for the process to exit.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s still running after %s", p.name, d)
	}
}

// tail is the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// dialer opens TCP connections from inside namespace ns: the socket is
// created by a thread that entered ns (a socket stays in the namespace it
// was created in), then the thread returns to the test's namespace.
func (l *lab) dialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	path := "/var/run/netns/" + l.ns(ns)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			c, err, restored := dialInNS(ctx, path, network, addr)
			if restored {
				runtime.UnlockOSThread()
			} // else the thread ends with this goroutine
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// dialInNS dials from namespace path on the calling (locked) thread;
// restored says the thread is back in its own namespace.
func dialInNS(ctx context.Context, path, network, addr string) (c net.Conn, err error, restored bool) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open own network namespace: %w", err), true
	}
	defer self.Close()
	target, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err), true
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter network namespace %s: %w", path, err), true
	}
	c, err = (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
	if serr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); serr != nil {
		return c, errors.Join(err, fmt.Errorf("leave network namespace: %w", serr)), false
	}
	return c, err, true
}
