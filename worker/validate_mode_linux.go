package worker

import "golang.org/x/sys/unix"

// limitValidator caps the process's data mappings (the Go heap and
// goroutine stacks) and its CPU time; past them the kernel fails the
// allocation (the runtime then dies) or kills the process.
func limitValidator(dataBytes uint64, cpuSeconds uint64) {
	_ = unix.Setrlimit(unix.RLIMIT_DATA, &unix.Rlimit{Cur: dataBytes, Max: dataBytes})
	_ = unix.Setrlimit(unix.RLIMIT_CPU, &unix.Rlimit{Cur: cpuSeconds, Max: cpuSeconds + 1})
}
