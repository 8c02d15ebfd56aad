package protocol_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/protocol/workertest"
)

// BenchmarkRoundTrip compares, between the same two processes (this one
// and one worker): a hello call on the data path, an echo frame on the same
// connection (no Lua: the floor), and a go-plugin net/rpc call (Ping on the
// yamux control connection) for comparison.
func BenchmarkRoundTrip(b *testing.B) {
	w := workertest.StartT(b, workerBin, helloSpec())
	ctx := context.Background()
	req := &protocol.Request{Method: "GET", Path: "/", Trigger: protocol.TriggerHTTP}
	b.Run("call_hello", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := w.Client.Call(ctx, req, time.Now().Add(10*time.Second), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw_echo", func(b *testing.B) {
		b.ReportAllocs()
		payload := []byte("hello")
		for b.Loop() {
			if _, err := w.Client.Echo(ctx, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("netrpc_ping", func(b *testing.B) {
		rpc, err := w.Plugin.Client()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := rpc.Ping(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("call_hello_parallel16", func(b *testing.B) {
		b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 callers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := w.Client.Call(ctx, req, time.Now().Add(10*time.Second), nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// medianOf runs f b.N times and reports the median duration in ms.
func medianOf(b *testing.B, f func()) {
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		f()
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(ds[len(ds)*9/10].Microseconds())/1000, "ms-p90")
}

// BenchmarkColdStart measures no worker → started, loaded, first result,
// next to a bare fork/exec of the worker binary (started by hand it prints
// one line and exits) and of an empty Go binary.
func BenchmarkColdStart(b *testing.B) {
	req := &protocol.Request{Method: "GET", Path: "/", Trigger: protocol.TriggerHTTP}
	b.Run("worker_first_result", func(b *testing.B) {
		medianOf(b, func() {
			ctx := context.Background()
			w, err := workertest.Start(ctx, workerBin, helloSpec(), nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Client.Call(ctx, req, time.Now().Add(10*time.Second), nil); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			w.Stop()
			b.StartTimer()
		})
	})
	b.Run("exec_worker_binary", func(b *testing.B) {
		var cpu []time.Duration
		medianOf(b, func() {
			cmd := exec.Command(workerBin)
			cmd.Env = []string{}
			_ = cmd.Run() // exits 2: not started by a supervisor
			cpu = append(cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		})
		reportCPU(b, cpu)
	})
	b.Run("exec_empty_go_binary", func(b *testing.B) {
		var cpu []time.Duration
		medianOf(b, func() {
			cmd := exec.Command(emptyBin)
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			cpu = append(cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		})
		reportCPU(b, cpu)
	})
}

// reportCPU reports the median CPU time (user+system) of the child.
func reportCPU(b *testing.B, cpu []time.Duration) {
	sort.Slice(cpu, func(i, j int) bool { return cpu[i] < cpu[j] })
	b.ReportMetric(float64(cpu[len(cpu)/2].Microseconds())/1000, "ms-cpu-median")
}

// BenchmarkIdleRSS reports a worker's resident memory after a few hello
// calls, and with four concurrent calls' worth of pooled states.
func BenchmarkIdleRSS(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency_%d", conc), func(b *testing.B) {
			var rss int64
			for b.Loop() {
				spec := helloSpec()
				spec.Concurrency = conc
				w, err := workertest.Start(context.Background(), workerBin, spec, nil)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				done := make(chan error, conc)
				for g := 0; g < conc; g++ {
					go func() {
						for i := 0; i < 20; i++ {
							if _, err := w.Client.Call(ctx, &protocol.Request{Path: "/"}, time.Now().Add(10*time.Second), nil); err != nil {
								done <- err
								return
							}
						}
						done <- nil
					}()
				}
				for g := 0; g < conc; g++ {
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
				rss = vmRSS(b, w.PID())
				w.Stop()
			}
			b.ReportMetric(float64(rss)/(1<<20), "MiB-RSS")
		})
	}
}

// vmRSS reads VmRSS of pid in bytes.
func vmRSS(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
