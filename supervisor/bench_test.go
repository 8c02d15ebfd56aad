//go:build linux

package supervisor

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// Benchmarks for bench/supervisor.md. Run them in one go test run so the
// figures are comparable:
//
//	go test -run '^$' -bench . -benchtime 2s ./supervisor/

var benchReq = &protocol.Request{Method: "GET", Path: "/", Trigger: protocol.TriggerHTTP}

func benchHello(version int, mod func(*functions.Limits)) functions.Spec {
	lim := functions.DefaultLimits()
	if mod != nil {
		mod(&lim)
	}
	return functions.Spec{Name: "hello", Version: version, Source: helloSource, Limits: lim}
}

// BenchmarkWarmHello is one warm call through the supervisor, serial.
func BenchmarkWarmHello(b *testing.B) {
	bd := setup(b, nil)
	fn := benchHello(1, nil)
	ctx := context.Background()
	if _, err := bd.sup.Invoke(ctx, fn, benchReq); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := bd.sup.Invoke(ctx, fn, benchReq); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmHelloDirect is the same call on the worker's client without
// the pool (no slot, no timer): the supervisor's own cost is the difference
// to BenchmarkWarmHello.
func BenchmarkWarmHelloDirect(b *testing.B) {
	bd := setup(b, nil)
	fn := benchHello(1, nil)
	ctx := context.Background()
	if _, err := bd.sup.Invoke(ctx, fn, benchReq); err != nil {
		b.Fatal(err)
	}
	bd.sup.mu.Lock()
	proc := bd.sup.pools["hello"].workers[0].proc
	bd.sup.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := proc.Call(ctx, benchReq, time.Now().Add(10*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmHelloParallel16 is warm calls from 16 concurrent callers on
// one worker serving 16 concurrent calls.
func BenchmarkWarmHelloParallel16(b *testing.B) {
	bd := setup(b, nil)
	fn := benchHello(1, func(l *functions.Limits) { l.Concurrency = 16; l.MaxWorkers = 1 })
	ctx := context.Background()
	if _, err := bd.sup.Invoke(ctx, fn, benchReq); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bd.sup.Invoke(ctx, fn, benchReq); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkColdStart is no worker → first response: every iteration calls a
// function with no worker, so the call starts one (cgroups, process,
// handshake, load); the worker is removed outside the timed part. No
// spare workers: every cold start execs.
func BenchmarkColdStart(b *testing.B) {
	benchColdStart(b, false, 0)
}

// BenchmarkColdStartNoCgroups is the same without cgroups.
func BenchmarkColdStartNoCgroups(b *testing.B) {
	benchColdStart(b, true, 0)
}

// BenchmarkColdStartSpare is the same cold start taking a spare worker
// (cgroup limits set, function loaded, call): before each iteration,
// outside the timed part, the benchmark waits for the spare that replaces
// the one taken.
func BenchmarkColdStartSpare(b *testing.B) {
	benchColdStart(b, false, 1)
}

func benchColdStart(b *testing.B, noCgroups bool, spares int) {
	bd := setup(b, func(c *Config) { c.DisableCgroups = noCgroups; c.SpareWorkers = spares })
	ctx := context.Background()
	b.ReportAllocs()
	fn := benchHello(1, nil)
	var took []time.Duration
	waitSpares := func() {
		waitFor(b, "a ready spare", func() bool { return len(bd.sup.Status().Spares) == spares })
	}
	b.StopTimer()
	waitSpares()
	b.StartTimer()
	for b.Loop() {
		began := time.Now()
		if _, err := bd.sup.Invoke(ctx, fn, benchReq); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(began))
		b.StopTimer()
		bd.sup.Remove(fn.Name)
		waitFor(b, "the worker gone", func() bool { return len(bd.sup.Status().Workers) == 0 })
		waitSpares()
		b.StartTimer()
	}
	reportPercentiles(b, took)
}

// BenchmarkBareForkExec is fork/exec of the worker binary until it exits
// (started by hand, it explains itself and exits): the floor of a cold
// start without a spare.
func BenchmarkBareForkExec(b *testing.B) {
	requireWorker(b)
	var took []time.Duration
	for b.Loop() {
		began := time.Now()
		cmd := exec.Command(workerBin)
		_ = cmd.Run() // exits non-zero by design
		if cmd.ProcessState == nil {
			b.Fatal("worker did not run")
		}
		took = append(took, time.Since(began))
	}
	reportPercentiles(b, took)
}

// reportPercentiles reports the p50, p90 and p99 of the iterations' times
// in milliseconds.
func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	for _, p := range []int{50, 90, 99} {
		i := min(len(took)-1, len(took)*p/100)
		b.ReportMetric(float64(took[i])/float64(time.Millisecond), fmt.Sprintf("p%d-ms", p))
	}
}

// BenchmarkIdleWorkerRSS reports the resident memory of an idle worker
// after one hello call.
func BenchmarkIdleWorkerRSS(b *testing.B) {
	bd := setup(b, nil)
	ctx := context.Background()
	if _, err := bd.sup.Invoke(ctx, benchHello(1, nil), benchReq); err != nil {
		b.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	var rss int64
	for b.Loop() {
		rss = bd.sup.Status().Workers[0].RSSBytes
	}
	b.ReportMetric(float64(rss)/(1<<20), "MiB-RSS")
}
