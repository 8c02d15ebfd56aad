//go:build linux

package supervisor

import (
	"os"
	"testing"
	"time"
)

// BenchmarkIdleSpare reports what one idle spare worker costs: the CPU it
// used (utime+stime from /proc/PID/stat) over a window of
// PICLOUD_BENCH_IDLE (e.g. 60s; skipped when unset), scaled to a minute,
// and its resident memory. Run it with -benchtime 1x: the window is
// measured once whatever b.N is.
func BenchmarkIdleSpare(b *testing.B) {
	window, err := time.ParseDuration(os.Getenv("PICLOUD_BENCH_IDLE"))
	if err != nil || window <= 0 {
		b.Skip("set PICLOUD_BENCH_IDLE (e.g. 60s) to measure an idle spare over that window")
	}
	bd := setup(b, func(c *Config) { c.SpareWorkers = 1 })
	var sp []SpareStatus
	waitFor(b, "a ready spare", func() bool {
		sp = bd.sup.Status().Spares
		return len(sp) == 1
	})
	pid := sp[0].PID
	time.Sleep(time.Second) // past its start
	_, cpu0 := procStats(pid)
	time.Sleep(window)
	rss, cpu1 := procStats(pid)
	if st := bd.sup.Status().Spares; len(st) != 1 || st[0].PID != pid {
		b.Fatalf("the spare %d did not stay idle: %+v", pid, st)
	}
	for b.Loop() {
	}
	used := cpu1 - cpu0
	b.ReportMetric(float64(used)/float64(time.Millisecond)*float64(time.Minute)/float64(window), "cpu-ms/min")
	b.ReportMetric(float64(rss)/(1<<20), "MiB-RSS")
	b.Logf("idle spare %d: %s of CPU over %s, RSS %.1f MiB", pid, used, window, float64(rss)/(1<<20))
}
