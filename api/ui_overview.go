package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/store"
)

// OverviewFunction is one function of the dashboard's overview with its
// figures over the last hour.
type OverviewFunction struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Private   bool      `json:"private"`
	UpdatedAt time.Time `json:"updated_at"`
	Calls     int64     `json:"calls"`
	Errors    int64     `json:"errors"`
	P50MS     float64   `json:"p50_ms"`
	P99MS     float64   `json:"p99_ms"`
	// Buckets counts calls in 5-minute slices of the hour, oldest first.
	Buckets []int64 `json:"buckets"`
}

// Overview is the body of GET /ui/overview.
type Overview struct {
	Since       time.Time          `json:"since"`
	Functions   []OverviewFunction `json:"functions"`
	NextAfter   string             `json:"next_after,omitempty"`
	DeadLetters int64              `json:"dead_letters"`
	Workers     int                `json:"workers"`
	LimitsMode  string             `json:"limits_mode"`
	// Nodes is the cluster's nodes (this one alone without a registry).
	Nodes []NodeView `json:"nodes"`
}

// defaultOverviewPage is the overview's page size.
const defaultOverviewPage = 100

// overview is GET /ui/overview?after=NAME&limit=N: a page of functions
// with their calls, errors and p50/p99 over the last hour, the dead
// letters waiting, this node's workers and the cluster's nodes. Query
// budget: two queries (three on a page without functions): the overview
// aggregate and the node registry; workers come from memory.
func (u *uiHandler) overview(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := defaultOverviewPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxOverviewFunctions {
			return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "limit",
				Message: fmt.Sprintf("limit %q is invalid: use 1 to %d", truncate(s, 40), store.MaxOverviewFunctions)}
		}
		limit = n
	}
	now := u.now()
	since := now.Add(-time.Hour)
	ov, err := u.api.deps.Store.FunctionOverview(r.Context(), q.Get("after"), limit, since, now)
	if err != nil {
		return internalError(err)
	}
	st := u.api.deps.Supervisor.Status()
	out := Overview{Since: since, Functions: make([]OverviewFunction, 0, len(ov.Functions)),
		DeadLetters: ov.DeadLetters, Workers: len(st.Workers), LimitsMode: st.LimitsMode}
	for _, f := range ov.Functions {
		out.Functions = append(out.Functions, OverviewFunction{Name: f.Name, Version: f.Version, Private: f.Private,
			UpdatedAt: f.UpdatedAt, Calls: f.Calls, Errors: f.Errors, P50MS: f.P50MS, P99MS: f.P99MS, Buckets: f.Buckets})
	}
	out.Nodes = []NodeView{}
	if u.api.deps.Nodes != nil {
		nodes, err := u.api.deps.Nodes.ListNodes(r.Context())
		if err != nil {
			return internalError(err)
		}
		for _, n := range nodes {
			out.Nodes = append(out.Nodes, NodeView{ID: n.ID, Address: n.Address, Roles: n.Roles, Version: n.Version,
				StartedAt: n.StartedAt, HeartbeatAt: n.HeartbeatAt, LeaseSeconds: n.Lease.Seconds(),
				Alive: n.Alive, Self: n.ID == u.api.deps.NodeID, Workers: n.Workers, InFlight: n.InFlight, Load: n.Load})
		}
	}
	if len(ov.Functions) == limit {
		out.NextAfter = ov.Functions[len(ov.Functions)-1].Name
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// SchedulePreview is the body of GET /ui/schedule-preview.
type SchedulePreview struct {
	TZ   string      `json:"tz"`
	Next []time.Time `json:"next"`
}

// schedulePreview is GET /ui/schedule-preview?expr=E&tz=Z: the next five
// fire times of E in Z, as the scheduler computes them, or a 422 saying
// what is wrong (the schedule form checks as the user types). No query.
func (u *uiHandler) schedulePreview(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	tz := q.Get("tz")
	if tz == "" {
		tz = "UTC"
	}
	next, err := events.NextTicks(q.Get("expr"), tz, u.now(), 5)
	if err != nil {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "expr", Message: err.Error()}
	}
	writeJSON(w, http.StatusOK, SchedulePreview{TZ: tz, Next: next})
	return nil
}
