// Command soak runs mixed load against one running `picloud serve` for a
// while and prints, at the end, the answers it got by kind and the
// server's RSS, goroutines and open descriptors at the start, the middle
// and the end (from /metrics): flat means no leak. `make soak` builds and
// starts a server on a fresh database and runs it (30 minutes by default).
//
// The load, every loop bounded by -duration:
//   - sync calls of a hello function and a kv counter (4 callers);
//   - async invocations through the invoke API;
//   - event publishes to a topic a function is subscribed to;
//   - two SSE stream readers, reconnecting when dropped;
//   - a deploy of a new version every 10 s, called at once;
//   - a memory bomb (32 MiB limit) every 3 s, expected to answer 502;
//   - a CPU spinner past its 200 ms timeout every 4 s, expected 504;
//   - a worker killed with SIGKILL every 5 s (a crash), found through
//     /api/v1/workers.
//
// It is a test tool, not part of the product.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

type soak struct {
	base, token string
	client      *http.Client

	mu     sync.Mutex
	counts map[string]int // "scenario status" -> n
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "PiCloud URL")
	token := flag.String("token", os.Getenv("PICLOUD_TOKEN"), "admin token")
	duration := flag.Duration("duration", 30*time.Minute, "how long to run")
	idle := flag.Duration("idle", 75*time.Second, "how long to wait after the load before the last sample (workers scale to zero after 60s idle)")
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "soak: -token or PICLOUD_TOKEN is required")
		os.Exit(2)
	}
	s := &soak{base: strings.TrimRight(*base, "/"), token: *token, counts: map[string]int{},
		client: &http.Client{Timeout: 30 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	if err := s.setup(); err != nil {
		fmt.Fprintln(os.Stderr, "soak: setup:", err)
		os.Exit(1)
	}
	start := s.sample()
	fmt.Printf("soak: running %s of mixed load against %s\n", *duration, s.base)
	var wg sync.WaitGroup
	run := func(f func(context.Context)) { wg.Add(1); go func() { defer wg.Done(); f(ctx) }() }
	for i := 0; i < 4; i++ {
		run(s.syncCalls)
	}
	run(s.asyncCalls)
	run(s.publishes)
	run(s.stream)
	run(s.stream)
	run(s.every(10*time.Second, s.deployAndCall))
	run(s.every(3*time.Second, func() { s.call("bomb", http.MethodGet, "/fn/bomb", nil, nil) }))
	run(s.every(4*time.Second, func() { s.call("spin", http.MethodGet, "/fn/spin", nil, nil) }))
	run(s.every(5*time.Second, s.killWorker))
	var middle map[string]float64
	run(func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(*duration / 2):
			middle = s.sample()
		}
	})
	run(s.every(time.Minute, func() {
		m := s.sample()
		fmt.Printf("soak: %s; serve RSS %.1f MiB, %0.f goroutines, %0.f fds\n", s.summary(),
			m["process_resident_memory_bytes"]/(1<<20), m["go_goroutines"], m["process_open_fds"])
	}))
	wg.Wait()
	time.Sleep(2 * time.Second) // let the last calls' records settle
	end := s.sample()
	fmt.Println("soak: answers by scenario and status:")
	fmt.Print(s.table())
	fmt.Printf("soak: waiting %s for the workers to scale to zero\n", *idle)
	time.Sleep(*idle)
	after := s.sample()
	fmt.Println("soak: serve at start, middle, end of the load, and idle after it:")
	for _, k := range []string{"process_resident_memory_bytes", "go_goroutines", "process_open_fds"} {
		fmt.Printf("  %-32s %12.0f %12.0f %12.0f %12.0f\n", k, start[k], middle[k], end[k], after[k])
	}
}

// setup deploys the functions and the trigger the load uses.
func (s *soak) setup() error {
	fns := []struct{ name, src, extra string }{
		{"hello", `function handle(req) return {hello = "world"} end`, ""},
		{"counter", `function handle(req) return {n = kv.incr("hits", 1)} end`, ""},
		{"echo", `function handle(req) return req.body end`, ""},
		{"sub", `function handle(req) log.info("got " .. tostring(req.event.id)) return "ok" end`, ""},
		{"bomb", `function handle(req) local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end end`, `,"memory":"32MiB"`},
		{"spin", `function handle(req) while true do end end`, `,"timeout":"200ms"`},
		{"churn", `function handle(req) return "v0" end`, ""},
	}
	for _, f := range fns {
		body := fmt.Sprintf(`{"name":%q,"source":%q%s}`, f.name, f.src, f.extra)
		if code, out := s.do(http.MethodPost, "/api/v1/functions", []byte(body), nil); code != 201 && code != 200 {
			return fmt.Errorf("deploy %s: %d %s", f.name, code, out)
		}
	}
	if code, out := s.do(http.MethodPost, "/api/v1/triggers", []byte(`{"function":"sub","topic":"soak"}`), nil); code != 201 {
		return fmt.Errorf("trigger: %d %s", code, out)
	}
	return nil
}

func (s *soak) do(method, path string, body []byte, hdr map[string]string) (int, string) {
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return -1, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// call makes one request and counts its answer under scenario.
func (s *soak) call(scenario, method, path string, body []byte, hdr map[string]string) int {
	code, out := s.do(method, path, body, hdr)
	kind := fmt.Sprint(code)
	if code == -1 {
		kind = "transport error"
	} else if code >= 400 {
		var e struct{ Code string }
		if json.Unmarshal([]byte(out), &e) == nil && e.Code != "" {
			kind += " " + e.Code
		}
	}
	s.mu.Lock()
	s.counts[scenario+" "+kind]++
	s.mu.Unlock()
	return code
}

func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (s *soak) every(d time.Duration, f func()) func(context.Context) {
	return func(ctx context.Context) {
		for pause(ctx, d) {
			f()
		}
	}
}

func (s *soak) syncCalls(ctx context.Context) {
	for pause(ctx, 5*time.Millisecond) {
		if rand.IntN(2) == 0 {
			s.call("sync hello", http.MethodGet, "/fn/hello", nil, nil)
		} else {
			s.call("sync counter", http.MethodPost, "/fn/counter", nil, nil)
		}
	}
}

func (s *soak) asyncCalls(ctx context.Context) {
	for pause(ctx, 50*time.Millisecond) {
		s.call("async", http.MethodPost, "/api/v1/functions/echo/invoke?async=1", []byte(`{"a":1}`), nil)
	}
}

func (s *soak) publishes(ctx context.Context) {
	for i := 0; pause(ctx, 20*time.Millisecond); i++ {
		s.call("publish", http.MethodPost, "/api/v1/events/soak", []byte(fmt.Sprintf(`{"i":%d}`, i)), nil)
	}
}

// stream reads the event stream, reconnecting with Last-Event-ID.
func (s *soak) stream(ctx context.Context) {
	last := ""
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/v1/events/stream?topic=soak", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.count("stream", "connect error")
			pause(ctx, time.Second)
			continue
		}
		s.count("stream", fmt.Sprint("connect ", resp.StatusCode))
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				last = id
				s.count("stream", "event")
			}
		}
		resp.Body.Close()
		pause(ctx, 100*time.Millisecond)
	}
}

func (s *soak) count(scenario, kind string) {
	s.mu.Lock()
	s.counts[scenario+" "+kind]++
	s.mu.Unlock()
}

func (s *soak) deployAndCall() {
	v := time.Now().UnixNano()
	src := fmt.Sprintf(`function handle(req) return "v%d" end`, v)
	s.call("deploy", http.MethodPut, "/api/v1/functions/churn", []byte(fmt.Sprintf(`{"source":%q}`, src)), nil)
	s.call("deploy call", http.MethodGet, "/fn/churn", nil, nil)
}

// killWorker SIGKILLs one worker process of the node.
func (s *soak) killWorker() {
	code, out := s.do(http.MethodGet, "/api/v1/workers", nil, nil)
	if code != 200 {
		s.count("crash", fmt.Sprint("workers ", code))
		return
	}
	var st struct {
		Workers []struct {
			PID      int    `json:"pid"`
			Function string `json:"function"`
		} `json:"workers"`
	}
	if json.Unmarshal([]byte(out), &st) != nil || len(st.Workers) == 0 {
		s.count("crash", "no worker")
		return
	}
	w := st.Workers[rand.IntN(len(st.Workers))]
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		s.count("crash", "kill error")
		return
	}
	s.count("crash", "killed")
}

// sample reads the server's process metrics.
func (s *soak) sample() map[string]float64 {
	out := map[string]float64{}
	code, body := s.do(http.MethodGet, "/metrics", nil, nil)
	if code != 200 {
		return out
	}
	for _, line := range strings.Split(body, "\n") {
		for _, k := range []string{"process_resident_memory_bytes", "go_goroutines", "process_open_fds"} {
			if v, ok := strings.CutPrefix(line, k+" "); ok {
				var f float64
				fmt.Sscan(v, &f)
				out[k] = f
			}
		}
	}
	return out
}

func (s *soak) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	total, bad := 0, 0
	for k, n := range s.counts {
		total += n
		if strings.Contains(k, "error") && !strings.HasPrefix(k, "bomb") && !strings.HasPrefix(k, "spin") {
			bad += n
		}
	}
	return fmt.Sprintf("%d answers, %d transport/connect errors", total, bad)
}

func (s *soak) table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-48s %9d\n", k, s.counts[k])
	}
	return b.String()
}
