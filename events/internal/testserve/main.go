// Command testserve is `picloud serve` with the events service wired in,
// for the events package's end-to-end tests (kill -9, two servers on one
// database) until the CLI's serve command wires events itself. Flags:
// -listen, -data-dir, -worker, -retry-base, -rescue-after, -no-events; DATABASE_URL
// from the environment.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/server"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	dataDir := flag.String("data-dir", "", "data directory")
	worker := flag.String("worker", "", "worker binary")
	retryBase := flag.Duration("retry-base", 50*time.Millisecond, "retry base")
	rescueAfter := flag.Duration("rescue-after", 10*time.Second, "rescue stuck jobs after")
	level := flag.String("log-level", "warn", "log level")
	noEvents := flag.Bool("no-events", false, "run without the events service (to measure its cost)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testserve:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	setup := []server.SetupFunc{events.Setup(events.Options{RetryBase: *retryBase, RescueAfter: *rescueAfter})}
	if *noEvents {
		setup = nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := server.Run(ctx, server.Config{
		Listen:      *listen,
		DatabaseURL: os.Getenv("DATABASE_URL"),
		DataDir:     *dataDir,
		WorkerPath:  *worker,
		Logger:      hclog.New(&hclog.LoggerOptions{Name: "testserve", Level: hclog.LevelFromString(*level)}),
		Setup:       setup,
	})
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "testserve:", err)
		os.Exit(1)
	}
}
