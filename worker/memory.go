package worker

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memorySampleEvery is how often the heap watch samples while calls run.
// It runs only while at least one call is in flight: an idle worker has no
// ticker.
const memorySampleEvery = 2 * time.Millisecond

// softMemoryLimit is the Go memory limit (GOMEMLIMIT) for a worker with
// the given memory maximum: the collector works hard from there on. The
// rest of the limit is for what the Go runtime does not count (the
// binary's text and data, page tables).
func softMemoryLimit(limit int64) int64 { return limit * 3 / 4 }

// failMemoryAt is the resident size at which the heap watch fails the
// in-flight calls: just under the limit, where the kernel would kill us.
func failMemoryAt(limit int64) int64 { return limit - max(limit/16, 2<<20) }

// memoryWatch fails the in-flight calls when the Go runtime's memory goes
// over the soft limit, before the kernel's OOM killer ends the process.
type memoryWatch struct {
	logger Logger

	mu      sync.Mutex
	limit   int64 // bytes; 0: no watch
	nextID  uint64
	cancels map[uint64]context.CancelCauseFunc
	running bool
	// statm is /proc/self/statm, opened before the sandbox closes the
	// filesystem; nil where it could not be opened (then the Go runtime's
	// own figure is used).
	statm    *os.File
	pageSize int64
	buf      [128]byte
}

func newMemoryWatch(logger Logger) *memoryWatch {
	statm, err := os.Open("/proc/self/statm")
	if err != nil {
		statm = nil
	}
	return &memoryWatch{
		logger:   logger,
		statm:    statm,
		pageSize: int64(os.Getpagesize()),
		cancels:  map[uint64]context.CancelCauseFunc{},
	}
}

func (m *memoryWatch) setLimit(limit int64) {
	m.mu.Lock()
	m.limit = limit
	m.mu.Unlock()
}

// track registers a call's cancel function and starts the sampler if
// needed.
func (m *memoryWatch) track(cancel context.CancelCauseFunc) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	id := m.nextID
	m.cancels[id] = cancel
	if !m.running && m.limit > 0 {
		m.running = true
		go m.sample()
	}
	return id
}

func (m *memoryWatch) untrack(id uint64) {
	m.mu.Lock()
	delete(m.cancels, id)
	m.mu.Unlock()
}

func (m *memoryWatch) inFlight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cancels)
}

// used is the resident size of the process (from /proc/self/statm), or
// the memory the Go runtime holds from the OS.
func (m *memoryWatch) used() int64 {
	if m.statm != nil {
		n, err := m.statm.ReadAt(m.buf[:], 0)
		if err == nil || errors.Is(err, io.EOF) {
			// "size resident shared text lib data dt", in pages.
			fields := strings.Fields(string(m.buf[:n]))
			if len(fields) > 1 {
				if pages, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					return pages * m.pageSize
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys - ms.HeapReleased)
}

// sample runs while calls are in flight.
func (m *memoryWatch) sample() {
	t := time.NewTicker(memorySampleEvery)
	defer t.Stop()
	for range t.C {
		m.mu.Lock()
		if len(m.cancels) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		soft := failMemoryAt(m.limit)
		m.mu.Unlock()

		if m.used() <= soft {
			continue
		}
		// Garbage may be most of it: collect once before blaming calls.
		runtime.GC()
		debug.FreeOSMemory()
		if used := m.used(); used > soft {
			m.mu.Lock()
			m.logger.Warn("memory limit reached: failing in-flight calls", "used_bytes", used, "soft_limit_bytes", soft, "calls", len(m.cancels))
			for _, cancel := range m.cancels {
				cancel(errCallMemory)
			}
			m.mu.Unlock()
		}
	}
}

// recover returns freed memory to the OS after a call failed for memory.
func (m *memoryWatch) recover() {
	debug.FreeOSMemory()
}
