package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/picloud/picloud/functions"
)

// limitsJSON is how supervisor.Limits is stored in function_versions.limits.
// Field names are part of the schema: add fields, never rename them. A field
// missing from a stored row takes the default (rows written before the field
// existed).
type limitsJSON struct {
	MemoryBytes   *int64   `json:"memory_bytes,omitempty"`
	CPU           *float64 `json:"cpu,omitempty"`
	TimeoutMS     *int64   `json:"timeout_ms,omitempty"`
	Concurrency   *int     `json:"concurrency,omitempty"`
	MinWarm       *int     `json:"min_warm,omitempty"`
	MaxWorkers    *int     `json:"max_workers,omitempty"`
	IdleTimeoutMS *int64   `json:"idle_timeout_ms,omitempty"`
}

func encodeLimits(l functions.Limits) ([]byte, error) {
	timeout, idle := l.Timeout.Milliseconds(), l.IdleTimeout.Milliseconds()
	b, err := json.Marshal(limitsJSON{
		MemoryBytes:   &l.MemoryBytes,
		CPU:           &l.CPU,
		TimeoutMS:     &timeout,
		Concurrency:   &l.Concurrency,
		MinWarm:       &l.MinWarm,
		MaxWorkers:    &l.MaxWorkers,
		IdleTimeoutMS: &idle,
	})
	if err != nil {
		return nil, fmt.Errorf("encode limits: %w", err)
	}
	return b, nil
}

func decodeLimits(b []byte) (functions.Limits, error) {
	l := functions.DefaultLimits()
	var j limitsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return l, fmt.Errorf("decode limits: %w", err)
	}
	if j.MemoryBytes != nil {
		l.MemoryBytes = *j.MemoryBytes
	}
	if j.CPU != nil {
		l.CPU = *j.CPU
	}
	if j.TimeoutMS != nil {
		l.Timeout = time.Duration(*j.TimeoutMS) * time.Millisecond
	}
	if j.Concurrency != nil {
		l.Concurrency = *j.Concurrency
	}
	if j.MinWarm != nil {
		l.MinWarm = *j.MinWarm
	}
	if j.MaxWorkers != nil {
		l.MaxWorkers = *j.MaxWorkers
	}
	if j.IdleTimeoutMS != nil {
		l.IdleTimeout = time.Duration(*j.IdleTimeoutMS) * time.Millisecond
	}
	return l, nil
}
