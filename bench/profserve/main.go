// Command profserve runs the PiCloud server in process with net/http/pprof
// on a second address, to profile the hot path under load:
//
//	go build -o /tmp/profserve ./bench/profserve
//	DATABASE_URL=... /tmp/profserve -listen 127.0.0.1:18080 -pprof 127.0.0.1:6060 -data-dir /tmp/d
//	wrk -t2 -c16 -d20s http://127.0.0.1:18080/fn/hello &
//	go tool pprof -top http://127.0.0.1:6060/debug/pprof/profile?seconds=10
//
// It is a benchmarking aid, not part of the product.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // the point of this command
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/invoke"
	"github.com/picloud/picloud/server"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "PiCloud address")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "pprof address")
	dataDir := flag.String("data-dir", "/tmp/picloud-prof", "data directory")
	workerPath := flag.String("worker-path", "", "worker binary (default: the supervisor's choice)")
	recordCalls := flag.String("record-calls", "sampled", "record policy: all, sampled or failures")
	recordSample := flag.Float64("record-sample", invoke.DefaultRecordSample, "fraction of silent successes recorded with -record-calls sampled")
	flag.Parse()
	policy, err := invoke.ParseRecordPolicy(*recordCalls, *recordSample)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profserve:", err)
		os.Exit(2)
	}
	go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = server.Run(ctx, server.Config{
		RecordPolicy: policy,
		Listen:       *listen,
		DatabaseURL:  os.Getenv("DATABASE_URL"),
		DataDir:      *dataDir,
		WorkerPath:   *workerPath,
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "picloud", Level: hclog.Warn}),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "profserve:", err)
		os.Exit(1)
	}
}
