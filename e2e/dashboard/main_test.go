// Package dashboard tests the dashboard end to end: real picloud and
// picloud-worker binaries, a real `picloud serve` with its dashboard on its
// own listener, a fresh PostgreSQL database, and real headless Chromium
// (Debian's chromium package) driven by chromedp.
package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// server is the `picloud serve` process shared by the package's tests.
type server struct {
	api, ui             string // http://127.0.0.1:PORT of the data plane and the dashboard
	admin               string
	bin, dataDir, dbURL string
	cmd                 *exec.Cmd
	exited              chan struct{}
	exitErr             error
	logMu               sync.Mutex
	log                 bytes.Buffer
}

var (
	srv        *server
	skipReason string
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		skipReason = "DATABASE_URL is unset (make test sets it)"
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "picloud-dashboard-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// Traversable: where the picloud-worker user exists (a machine with the
	// .deb installed), workers and the validator run as that user and must
	// reach the binaries.
	if err := os.Chmod(tmp, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		return 1
	}
	bin := filepath.Join(tmp, "bin")
	if err := build(bin); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard: build:", err)
		return 1
	}
	dbURL, drop, err := createDB(base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard: create database:", err)
		return 1
	}
	defer drop()
	s, err := start(&server{bin: bin, dataDir: filepath.Join(tmp, "data"), dbURL: dbURL}, "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard: start server:", err)
		return 1
	}
	srv = s
	code := m.Run()
	if err := s.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard: picloud serve did not stop cleanly:", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, s.logs())
	}
	return code
}

// repoRoot is the module's directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

func build(dir string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+"/", "./cmd/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/...: %w\n%s", err, b)
	}
	return nil
}

func createDB(base string) (string, func(), error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "picloud_dash_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}, nil
}

var (
	servingRE = regexp.MustCompile(`serving: addr=(\S+)`)
	uiRE      = regexp.MustCompile(`serving the dashboard: url=(http://\S+)/`)
)

// start runs picloud serve for s on the given addresses (":0" picks a
// free port) and waits until both listeners are up.
func start(s *server, apiAddr, uiAddr string) (*server, error) {
	s.exited = make(chan struct{})
	s.api, s.ui = "", ""
	s.cmd = exec.Command(filepath.Join(s.bin, "picloud"), "serve", "--listen", apiAddr,
		"--ui-listen", uiAddr, "--data-dir", s.dataDir)
	s.cmd.Env = append(os.Environ(), "DATABASE_URL="+s.dbURL)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	addrs := make(chan [2]string, 2)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.log.WriteString(line + "\n")
			s.logMu.Unlock()
			if m := servingRE.FindStringSubmatch(line); m != nil {
				addrs <- [2]string{"api", "http://" + m[1]}
			}
			if m := uiRE.FindStringSubmatch(line); m != nil {
				addrs <- [2]string{"ui", m[1]}
			}
		}
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	fail := func(err error) (*server, error) {
		fmt.Fprintln(os.Stderr, s.logs())
		s.kill()
		return nil, err
	}
	for s.api == "" || s.ui == "" {
		select {
		case a := <-addrs:
			if a[0] == "api" {
				s.api = a[1]
			} else {
				s.ui = a[1]
			}
		case <-s.exited:
			return fail(fmt.Errorf("picloud serve exited: %v", s.exitErr))
		case <-time.After(90 * time.Second):
			return fail(errors.New("picloud serve did not log its addresses within 90s"))
		}
	}
	tok, err := os.ReadFile(filepath.Join(s.dataDir, "admin.token"))
	if err != nil {
		return fail(fmt.Errorf("read admin token: %w", err))
	}
	s.admin = strings.TrimSpace(string(tok))
	return s, nil
}

// restart stops the server and starts it again on the same addresses.
func (s *server) restart() error {
	if err := s.stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	api, ui := strings.TrimPrefix(s.api, "http://"), strings.TrimPrefix(s.ui, "http://")
	if _, err := start(s, api, ui); err != nil {
		return fmt.Errorf("start again: %w", err)
	}
	return nil
}

func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-s.exited:
		return s.exitErr
	case <-time.After(90 * time.Second):
		s.kill()
		return errors.New("still running 90s after SIGTERM")
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func (s *server) logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// call is one HTTP request; body is encoded as JSON unless a string.
func call(t *testing.T, method, url string, hdr map[string]string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// bearer is the Authorization header of token.
func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}
