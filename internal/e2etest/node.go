package e2etest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config says how to start a node.
type Config struct {
	// DatabaseURL is the node's database (required), say
	// storetest.NewDB(t). Nodes on one database form a cluster.
	DatabaseURL string
	// DataDir is the node's data directory (required); it need not exist
	// (its parent must). Nodes sharing one share its admin token.
	DataDir string
	// Bin is the picloud binary; "" is BinDir's.
	Bin string
	// Args are more `picloud serve` flags, after --listen 127.0.0.1:0,
	// --data-dir and --log-level info. A later flag wins, but keep the
	// level at info or finer: the node's address is read from its
	// "serving" log line.
	Args []string
	// Env is more environment (KEY=VALUE) on top of Environ() and
	// PICLOUD_RECORD_CALLS=all (every call keeps its record; picloud
	// serve's own default is sampled).
	Env []string
}

// Node is one running `picloud serve` process.
type Node struct {
	// URL is http://127.0.0.1:PORT.
	URL string
	// UIURL is the dashboard's http://127.0.0.1:PORT when Args turn it on
	// (--ui-listen), else "".
	UIURL string
	// Admin is the admin token in the data directory, "" when there is
	// none (a node started on a database that already has its admin, with
	// a data directory of its own: use the first node's).
	Admin string

	cfg     Config
	urlFile string
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error

	mu      sync.Mutex
	log     bytes.Buffer
	stopped bool // Stop or Kill was called
}

// readyTimeout bounds the wait for a node to serve (generous for a loaded
// machine running several test binaries).
const readyTimeout = 2 * time.Minute

// stopTimeout bounds the wait for a node to exit after SIGTERM.
const stopTimeout = 90 * time.Second

var (
	servingRE = regexp.MustCompile(`serving: addr=(\S+)`)
	uiRE      = regexp.MustCompile(`serving the dashboard: url=(http://\S+)/`)
)

// Start starts a node and waits until /readyz answers 200; it fails the
// test when the node does not get there. In t.Cleanup, a node still
// running is stopped with SIGTERM and must exit 0, one that exited by
// itself fails the test, and the node's log is shown when the test failed.
func Start(t testing.TB, cfg Config) *Node {
	t.Helper()
	if cfg.Bin == "" {
		cfg.Bin = filepath.Join(Bins(t), "picloud")
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	n, err := Launch(ctx, cfg)
	if err != nil {
		t.Fatalf("e2etest: %v", err)
	}
	t.Cleanup(func() {
		n.mu.Lock()
		stopped := n.stopped
		n.mu.Unlock()
		select {
		case <-n.exited:
			if !stopped {
				t.Errorf("picloud serve %s exited during the test: %v", n.URL, n.exitErr)
			}
		default:
			if err := n.Stop(); err != nil {
				t.Errorf("picloud serve %s did not stop cleanly on SIGTERM: %v", n.URL, err)
			}
		}
		if t.Failed() {
			t.Logf("picloud serve %s log:\n%s", n.URL, n.Logs())
		}
	})
	return n
}

// Launch is Start without a test, for a TestMain that shares a node
// between its tests: the caller stops the node. ctx bounds the wait until
// the node is ready; an error carries the node's log.
func Launch(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.DatabaseURL == "" || cfg.DataDir == "" {
		return nil, errors.New("e2etest: Config needs DatabaseURL and DataDir")
	}
	if cfg.Bin == "" {
		dir, err := BinDir()
		if err != nil {
			return nil, err
		}
		cfg.Bin = filepath.Join(dir, "picloud")
	}
	n := &Node{cfg: cfg, exited: make(chan struct{})}
	// The URL from a file, as it keeps a password out of ps: one per
	// process (nodes may share a data dir), beside the data dir (which the
	// server creates), removed when the process ends.
	f, err := os.CreateTemp(filepath.Dir(filepath.Clean(cfg.DataDir)), filepath.Base(cfg.DataDir)+".database-url-*")
	if err != nil {
		return nil, fmt.Errorf("create the database URL file: %w", err)
	}
	n.urlFile = f.Name()
	_, err = f.WriteString(cfg.DatabaseURL + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(n.urlFile)
		return nil, fmt.Errorf("write the database URL file: %w", err)
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", cfg.DataDir, "--log-level", "info"}, cfg.Args...)
	n.cmd = exec.Command(cfg.Bin, args...)
	// Tests read the record of each call they make: record every call
	// unless the test says otherwise (Args or Env).
	n.cmd.Env = append(Environ("PICLOUD_DATABASE_URL_FILE="+n.urlFile, "PICLOUD_RECORD_CALLS=all"), cfg.Env...)
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		os.Remove(n.urlFile)
		return nil, fmt.Errorf("pipe the log: %w", err)
	}
	n.cmd.Stdout = n.cmd.Stderr // one pipe, one log
	if err := n.cmd.Start(); err != nil {
		os.Remove(n.urlFile)
		return nil, fmt.Errorf("start picloud serve: %w", err)
	}
	addr, ui := make(chan string, 1), make(chan string, 1)
	go n.readLog(stderr, addr, ui)
	if err := n.waitReady(ctx, addr, ui); err != nil {
		n.Kill()
		return nil, fmt.Errorf("%w\npicloud serve log:\n%s", err, n.Logs())
	}
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, "admin.token"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		n.Kill()
		return nil, fmt.Errorf("read the admin token: %w", err)
	}
	n.Admin = strings.TrimSpace(string(tok))
	return n, nil
}

// readLog keeps the node's output, sends the address of its "serving"
// line, and records how the process ended.
func (n *Node) readLog(out io.Reader, addr, ui chan<- string) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		n.mu.Lock()
		n.log.WriteString(line + "\n")
		n.mu.Unlock()
		if m := servingRE.FindStringSubmatch(line); m != nil {
			select {
			case addr <- m[1]:
			default:
			}
		}
		if m := uiRE.FindStringSubmatch(line); m != nil {
			select {
			case ui <- m[1]:
			default:
			}
		}
	}
	n.exitErr = n.cmd.Wait()
	os.Remove(n.urlFile)
	close(n.exited)
}

// waitReady waits for the node's address, then for /readyz to answer 200,
// then for the dashboard's address when Args ask for the dashboard.
func (n *Node) waitReady(ctx context.Context, addr, ui <-chan string) error {
	select {
	case a := <-addr:
		n.URL = "http://" + a
	case <-n.exited:
		return fmt.Errorf("picloud serve exited before serving: %v", n.exitErr)
	case <-ctx.Done():
		return fmt.Errorf("picloud serve did not log its address: %w", ctx.Err())
	}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n.waitUI(ctx, ui)
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-n.exited:
			return fmt.Errorf("picloud serve exited before /readyz answered 200: %v", n.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("/readyz not 200 (last: %s): %w", last, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitUI waits for the dashboard's address when n's Args turn it on.
func (n *Node) waitUI(ctx context.Context, ui <-chan string) error {
	if !slices.ContainsFunc(n.cfg.Args, func(a string) bool { return a == "--ui-listen" || strings.HasPrefix(a, "--ui-listen=") }) {
		return nil
	}
	select {
	case u := <-ui:
		n.UIURL = u
		return nil
	case <-n.exited:
		return fmt.Errorf("picloud serve exited before serving the dashboard: %v", n.exitErr)
	case <-ctx.Done():
		return fmt.Errorf("picloud serve did not log the dashboard's address: %w", ctx.Err())
	}
}

// Stop sends SIGTERM and waits for the node to exit; it returns nil when
// it exited 0. Calling it again (or after Kill) returns the same.
func (n *Node) Stop() error {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	select {
	case <-n.exited:
		return n.exitErr
	default:
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("send SIGTERM: %w", err)
	}
	select {
	case <-n.exited:
		return n.exitErr
	case <-time.After(stopTimeout):
		n.Kill()
		return fmt.Errorf("still running %s after SIGTERM", stopTimeout)
	}
}

// Kill ends the node with SIGKILL (kill -9) and waits until it is gone.
func (n *Node) Kill() {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// Restart starts the node again on the same database and data directory
// (stopping it first with SIGTERM when it still runs; it must exit 0) and
// returns the new node, on a new port.
func (n *Node) Restart(t testing.TB) *Node {
	t.Helper()
	if err := n.Stop(); err != nil && !n.killed() {
		t.Fatalf("e2etest: stop before the restart: %v", err)
	}
	return Start(t, n.cfg)
}

// killed reports whether the process ended by SIGKILL.
func (n *Node) killed() bool {
	var ee *exec.ExitError
	if !errors.As(n.exitErr, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// Pid is the process id of the node.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// Config is what the node was started with (Bin filled in): start another
// node with a DataDir of its own, or the same, to join the cluster.
func (n *Node) Config() Config { return n.cfg }

// Logs returns what the node has logged so far (stdout and stderr).
func (n *Node) Logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}
