package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// healthz answers 200 while the process is up.
func (a *API) healthz(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) error {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}

// readyzTimeout bounds /readyz's database check: a health checker (Caddy
// waits 1 s) must get an answer, not a hung request.
const readyzTimeout = 2 * time.Second

// readyz answers 200 when the node is not draining, Deps.Ready has no
// objection (its heartbeat is current) and the database is reachable and
// migrated.
func (a *API) readyz(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	select {
	case <-a.deps.Stopping:
		writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", Error: "draining: this node is shutting down"})
		return nil
	default:
	}
	if a.deps.Ready != nil {
		if err := a.deps.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", Error: err.Error()})
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
	defer cancel()
	if err := a.deps.Store.Ready(ctx); err != nil {
		a.log.Warn("not ready", "error", err)
		msg := "database unreachable"
		if errors.Is(err, store.ErrNotMigrated) {
			msg = "database schema is not up to date"
		}
		writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", Error: msg})
		return nil
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}

// invocationView converts a record; withLogs includes its log lines.
func invocationView(inv *functions.Invocation, withLogs bool) Invocation {
	v := Invocation{
		ID:          inv.ID,
		Function:    inv.Function,
		Version:     inv.Version,
		Trigger:     inv.Trigger,
		Status:      inv.Status,
		Method:      inv.Method,
		Path:        inv.Path,
		HTTPStatus:  inv.HTTPStatus,
		Error:       inv.Error,
		StartedAt:   inv.StartedAt,
		DurationMS:  durationMS(inv.Duration),
		LogsDropped: inv.LogsDropped,
	}
	if v.StartedAt.IsZero() {
		v.StartedAt = inv.CreatedAt
	}
	if withLogs {
		v.Logs = make([]LogEntry, 0, len(inv.Logs))
		for _, l := range inv.Logs {
			v.Logs = append(v.Logs, LogEntry{Time: l.Time, Level: l.Level, Message: l.Message})
		}
		if inv.Result != nil || inv.ResultTruncated {
			v.Result = resultView(inv)
		}
	}
	return v
}

// resultView is the stored answer of inv.
func resultView(inv *functions.Invocation) *InvocationResult {
	res := &InvocationResult{Status: inv.HTTPStatus, Truncated: inv.ResultTruncated}
	body := inv.Result
	if inv.ResultTruncated {
		// The cut may split a UTF-8 sequence: drop its partial tail.
		for i := 0; i < utf8.UTFMax && len(body) > 0 && !utf8.Valid(body); i++ {
			body = body[:len(body)-1]
		}
		if !utf8.Valid(body) {
			body = inv.Result
		}
	}
	if utf8.Valid(body) {
		res.Body = string(body)
	} else {
		res.BodyBase64 = base64.StdEncoding.EncodeToString(inv.Result)
	}
	return res
}

// Bounds of GET /api/v1/invocations?limit=.
const (
	defaultInvocationPage = 50
	maxInvocationPage     = 500
)

var invocationStatuses = []string{StatusSucceeded, StatusFailed, StatusQueued, StatusRunning}

func (a *API) listInvocations(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := r.URL.Query()
	f := store.InvocationFilter{Function: q.Get("function"), Status: q.Get("status"), Trigger: q.Get("trigger"),
		Before: q.Get("cursor"), Limit: defaultInvocationPage}
	if err := invocationWindow(q, &f); err != nil {
		return err
	}
	if f.Function != "" {
		if err := validName("function name", f.Function); err != nil {
			return err
		}
	}
	if f.Status != "" && !slices.Contains(invocationStatuses, f.Status) {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "status",
			Message: fmt.Sprintf("status %q is unknown: use one of %v", truncate(f.Status, 40), invocationStatuses)}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxInvocationPage {
			return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "limit",
				Message: fmt.Sprintf("limit %q is invalid: use 1 to %d", truncate(s, 40), maxInvocationPage)}
		}
		f.Limit = n
	}
	invs, err := a.deps.Store.ListInvocations(r.Context(), f)
	if errors.Is(err, store.ErrInvalid) {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "cursor",
			Message: "cursor is invalid: pass the next_cursor of the previous page"}
	}
	if err != nil {
		return internalError(err)
	}
	out := InvocationList{Invocations: make([]Invocation, 0, len(invs))}
	for i := range invs {
		out.Invocations = append(out.Invocations, invocationView(&invs[i], false))
	}
	if len(invs) == f.Limit {
		out.NextCursor = invs[len(invs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getInvocation(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id := ps.ByName("id")
	inv, err := a.deps.Store.GetInvocation(r.Context(), id)
	if err != nil {
		return storeError(err, fmt.Sprintf("invocation %q", truncate(id, 60)))
	}
	writeJSON(w, http.StatusOK, invocationView(inv, true))
	return nil
}

func tokenView(t *store.Token) Token {
	return Token{Name: t.Name, Scopes: t.Scopes, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt}
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	limit, after, err := idPage(r)
	if err != nil {
		return err
	}
	// One more than asked says whether there is a next page.
	ts, err := a.deps.Store.ListTokensPage(r.Context(), false, after, limit+1)
	if err != nil {
		return internalError(err)
	}
	out := TokenList{Tokens: make([]Token, 0, min(len(ts), limit)),
		Next: idNext(len(ts), limit, func(i int) int64 { return ts[i].ID })}
	for _, t := range ts[:min(len(ts), limit)] {
		out.Tokens = append(out.Tokens, tokenView(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var req TokenRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := validName("token name", req.Name); err != nil {
		return err
	}
	if len(req.Scopes) == 0 {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "scopes",
			Message: fmt.Sprintf("scopes are missing: give at least one of %v", AllScopes)}
	}
	var scopes []string
	for _, s := range req.Scopes {
		if !slices.Contains(AllScopes, s) {
			return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "scopes",
				Message: fmt.Sprintf("scope %q is unknown: use %v", truncate(s, 40), AllScopes)}
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	secret, hash, err := NewTokenSecret()
	if err != nil {
		return internalError(fmt.Errorf("generate token: %w", err))
	}
	t, err := a.deps.Store.CreateToken(r.Context(), req.Name, scopes, hash[:])
	if err != nil {
		return storeError(err, "token "+req.Name)
	}
	writeJSON(w, http.StatusCreated, TokenCreated{Token: tokenView(t), Secret: secret})
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := nameParam(ps, "token name")
	if err != nil {
		return err
	}
	if err := a.deps.Store.RevokeToken(r.Context(), name); err != nil {
		return storeError(err, "token "+name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) workers(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	out := WorkersView(a.deps.Supervisor.Status(), a.deps.NodeID)
	if a.deps.Nodes != nil {
		nodes, err := a.deps.Nodes.ListNodes(r.Context())
		if err != nil {
			return internalError(err)
		}
		out.Workers = append(out.Workers, clusterWorkers(nodes, a.deps.NodeID, a.log)...)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// WorkersView is the API's view of a supervisor's status; node names the
// node in each worker's row (may be empty). Nodes publish it in the
// registry, so that a control node shows every node's workers.
func WorkersView(st supervisor.Status, node string) WorkersStatus {
	out := WorkersStatus{
		LimitsEnforced:  st.LimitsEnforced,
		LimitsMode:      st.LimitsMode,
		MaxWorkersTotal: st.MaxWorkersTotal,
		WorkerUser:      st.WorkerUser,
		SandboxRequired: st.SandboxRequired,
		Workers:         make([]WorkerStatus, 0, len(st.Workers)),
		SpareWorkers:    st.SpareWorkers,
		Spares:          make([]SpareStatus, 0, len(st.Spares)),
	}
	for _, sp := range st.Spares {
		out.Spares = append(out.Spares, SpareStatus{PID: sp.PID, StartedAt: sp.StartedAt, RSSBytes: sp.RSSBytes,
			CPUSeconds: sp.CPUTime.Seconds()})
	}
	for _, ws := range st.Workers {
		var sb *WorkerSandbox
		if s := ws.Sandbox; s.Seccomp != "" {
			sb = &WorkerSandbox{UID: s.UID, GID: s.GID, Capabilities: s.Capabilities, NoNewPrivs: s.NoNewPrivs,
				Seccomp: s.Seccomp, Landlock: s.Landlock, FDs: s.FDs, Complete: s.Complete(), Missing: s.Missing}
			if sb.Missing == nil {
				sb.Missing = []string{}
			}
		}
		out.Workers = append(out.Workers, WorkerStatus{
			Sandbox:        sb,
			Node:           node,
			PID:            ws.PID,
			Function:       ws.Function,
			Version:        ws.Version,
			State:          ws.State,
			CallsServed:    ws.CallsServed,
			InFlight:       ws.InFlight,
			StartedAt:      ws.StartedAt,
			LastUsed:       ws.LastUsed,
			RSSBytes:       ws.RSSBytes,
			CPUSeconds:     ws.CPUTime.Seconds(),
			LimitsEnforced: ws.LimitsEnforced,
		})
	}
	return out
}

// clusterWorkers returns the workers the other live nodes published with
// their last heartbeat (this node's own come from its supervisor, fresher).
// A node whose lease expired is left out.
func clusterWorkers(nodes []store.Node, self string, log hclog.Logger) []WorkerStatus {
	var out []WorkerStatus
	for _, n := range nodes {
		if n.ID == self || !n.Alive || len(n.Pool) == 0 {
			continue
		}
		var ws WorkersStatus
		if err := json.Unmarshal(n.Pool, &ws); err != nil {
			log.Warn("node published an unreadable pool status", "node", n.ID, "error", err)
			continue
		}
		for _, w := range ws.Workers {
			w.Node = n.ID
			out = append(out, w)
		}
	}
	return out
}

func (a *API) listNodes(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	out := NodeList{Nodes: []NodeView{}}
	if a.deps.Nodes == nil {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	nodes, err := a.deps.Nodes.ListNodes(r.Context())
	if err != nil {
		return internalError(err)
	}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, NodeView{
			ID: n.ID, Address: n.Address, Roles: n.Roles, Version: n.Version,
			StartedAt: n.StartedAt, HeartbeatAt: n.HeartbeatAt, LeaseSeconds: n.Lease.Seconds(),
			Alive: n.Alive, Self: n.ID == a.deps.NodeID,
			Workers: n.Workers, InFlight: n.InFlight, Load: n.Load,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// secretNameRE is the shape of secret names (environment-variable-like).
var secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)

func secretName(ps httprouter.Params) (string, error) {
	name := ps.ByName("name")
	if !secretNameRE.MatchString(name) {
		return "", &Error{Status: http.StatusBadRequest, Code: CodeInvalidName, Field: "name",
			Message: fmt.Sprintf("secret name %q is invalid: use 1 to 128 letters, digits, '_', '.', '-', starting with a letter or '_'", truncate(name, 80))}
	}
	return name, nil
}

func (a *API) listSecrets(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	limit, after, err := listPage(r)
	if err != nil {
		return err
	}
	// One more than asked says whether there is a next page.
	ss, err := a.deps.Store.ListSecretsPage(r.Context(), after, limit+1)
	if err != nil {
		return internalError(err)
	}
	out := SecretList{Secrets: make([]Secret, 0, min(len(ss), limit))}
	if len(ss) > limit {
		out.Next = ss[limit-1].Name
	}
	for _, s := range ss[:min(len(ss), limit)] {
		out.Secrets = append(out.Secrets, Secret{Name: s.Name, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) setSecret(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := secretName(ps)
	if err != nil {
		return err
	}
	var req SecretRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	created, err := a.deps.Store.SetSecret(r.Context(), name, req.Value)
	if err != nil {
		return storeError(err, "secret "+name)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, Secret{Name: name})
	return nil
}

func (a *API) deleteSecret(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := secretName(ps)
	if err != nil {
		return err
	}
	if err := a.deps.Store.DeleteSecret(r.Context(), name); err != nil {
		return storeError(err, "secret "+name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
