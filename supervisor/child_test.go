package supervisor

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/picloud/picloud/functions"
)

// childEnv makes the test binary run runChildSupervisor instead of the
// tests: a supervisor in a process of its own that the test can SIGKILL.
const childEnv = "PICLOUD_SUPERVISOR_TEST_CHILD"

// runChildSupervisor starts a supervisor with two warm workers and a
// spare, prints "ready <pid> <pid> <spare pid> <limits mode>" and waits to
// be killed.
func runChildSupervisor() {
	sup, err := New(Config{
		WorkerPath:   os.Getenv("PICLOUD_TEST_WORKER"),
		CgroupName:   os.Getenv("PICLOUD_TEST_CGROUP"),
		WorkerUser:   os.Getenv("PICLOUD_TEST_WORKER_USER"),
		SpareWorkers: 1,
		Logger:       hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
	})
	if err == nil {
		err = sup.Start(context.Background())
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	lim := functions.DefaultLimits()
	lim.MinWarm, lim.MaxWorkers = 2, 2
	fn := functions.Spec{Name: "orphan", Version: 1, Source: helloSource, Limits: lim}
	if err := sup.Deploy(context.Background(), fn); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st := sup.Status()
		if len(st.Workers) == 2 && st.Workers[0].State == "idle" && st.Workers[1].State == "idle" && len(st.Spares) == 1 {
			fmt.Printf("ready %d %d %d %s\n", st.Workers[0].PID, st.Workers[1].PID, st.Spares[0].PID, st.LimitsMode)
			select {} // until SIGKILL
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("error workers did not start")
	os.Exit(1)
}
