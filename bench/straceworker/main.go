// Command straceworker keeps one worker busy while strace -f -c counts its
// system calls: the measurement behind the seccomp allow-list in
// worker/seccomp_linux.go. Run it with scripts/strace-worker.sh.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/protocol/workertest"
)

// Usage: straceworker WORKER_BINARY STRACE_OUTPUT
func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: straceworker WORKER_BINARY STRACE_OUTPUT (see scripts/strace-worker.sh)")
		os.Exit(2)
	}
	bin := os.Args[1]
	ctx := context.Background()
	spec := protocol.FunctionSpec{Name: "busy", Version: 1, LoadDeadline: time.Now().Add(time.Minute), MemoryBytes: 48 << 20, Concurrency: 4, Source: `
function handle(req)
  if req.path == "/bomb" then local t = {} for i = 1, 1e8 do t[i] = {i, i} end end
  if req.path == "/loop" then while true do end end
  if req.path == "/err" then error("boom") end
  kv.set("k" .. (req.query.i or "0"), {n = req.query.i, s = ("x"):rep(1000)})
  local v = kv.get("k" .. (req.query.i or "0"))
  kv.incr("hits")
  kv.list("k")
  log.info("call", req.query.i)
  events.emit("t", {i = req.query.i})
  local s = secrets.get("x")
  local t = {}
  for i = 1, 2000 do t[i] = tostring(i) .. req.body end
  return {n = #table.concat(t), v = v, body = json.decode(json.encode({a = t}))}
end`}
	w, err := workertest.Start(ctx, bin, spec, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(w.PID())
	host := protocol.NewMemoryHost()
	strace := exec.Command("strace", "-f", "-c", "-S", "calls", "-o", os.Args[2], "-p", strconv.Itoa(w.PID()))
	strace.Stderr = os.Stderr
	if err := strace.Start(); err != nil {
		panic(err)
	}
	time.Sleep(time.Second)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				p := "/"
				switch i % 50 {
				case 7:
					p = "/err"
				case 13:
					p = "/loop"
				case 29:
					if g == 0 {
						p = "/bomb"
					}
				}
				_, _ = w.Client.Call(ctx, &protocol.Request{Path: p, Body: []byte("body"), Query: map[string][]string{"i": {strconv.Itoa(i)}}}, time.Now().Add(300*time.Millisecond), host)
				if i%100 == 0 {
					_, _ = w.Client.Stats(ctx)
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(3 * time.Second) // idle: GC, scavenger
	w.Client.Close()
	w.Plugin.Kill() // graceful: the worker exits (Close, RemoveAll)
	_ = strace.Wait()
}
