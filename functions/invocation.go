package functions

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/picloud/picloud/protocol"
)

// Invocation statuses.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// MaxResultBytes bounds the stored result of an invocation; a longer one is
// cut and marked ResultTruncated.
const MaxResultBytes = 64 << 10

// NewInvocationID returns a new invocation id: a UUIDv7, so ids sort by
// creation time.
func NewInvocationID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// Only fails if the system's random source does; uuid.New panics
		// likewise.
		panic(fmt.Sprintf("new invocation id: %v", err))
	}
	return id.String()
}

// Invocation is the record of one run of a function.
type Invocation struct {
	ID         string // NewInvocationID()
	Function   string
	Version    int
	Trigger    string // protocol.Trigger*
	Status     string // Status*
	Method     string // HTTP method, for http triggers
	Path       string // request path after /fn/NAME, for http triggers
	HTTPStatus int
	Error      string
	Logs       []protocol.LogEntry
	// LogsDropped counts log lines the worker dropped over its bound.
	LogsDropped int
	// Result is the response body (async invocations show it); at most
	// MaxResultBytes are kept.
	Result          []byte
	ResultTruncated bool
	StartedAt       time.Time
	Duration        time.Duration
	CreatedAt       time.Time // set by the database on insert
	UpdatedAt       time.Time // set by the database
}
