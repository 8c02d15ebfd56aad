package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/julienschmidt/httprouter"
	"github.com/riverqueue/river"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

// Scopes of the events routes (admin may do everything).
const (
	scopeRead    = api.ScopeRead
	scopeDeploy  = api.ScopeDeploy
	scopePublish = api.ScopePublish
)

// RegisterFunc adds a route behind the API's auth middleware: scope ""
// is public (the handler authenticates itself), otherwise a bearer token
// with that scope or admin is required. (*api.API).Handle is one.
type RegisterFunc func(method, path, scope string, h httprouter.Handle)

// AuthFunc checks that r carries a bearer token with scope (or admin) and
// returns its principal, or the *api.Error to answer otherwise.
// (*api.API).Authenticate is one.
type AuthFunc func(r *http.Request, scope string) (*api.Principal, error)

// Routes registers the events API:
//
//	POST   /api/v1/events/:topic              publish (scope publish)
//	POST   /api/v1/events/tickets             a stream ticket (scope read)
//	GET    /api/v1/events                     the event log (read)
//	GET    /api/v1/events/stream              SSE stream (read, or ?ticket=)
//	GET    /api/v1/triggers                   (read)
//	POST   /api/v1/triggers                   (deploy)
//	DELETE /api/v1/triggers/:id               (deploy)
//	GET    /api/v1/dead-letters[/:id]         (read)
//	POST   /api/v1/dead-letters/:id/retry     (deploy)
//	DELETE /api/v1/dead-letters/:id           (deploy)
//	GET    /api/v1/schedules[/:id]            (read)
//	POST   /api/v1/schedules                  (deploy)
//	DELETE /api/v1/schedules/:id              (deploy)
//	POST   /api/v1/schedules/:id/enable|disable (deploy)
//
// The publish and stream routes are registered public because one path
// serves two scopes (publish and tickets) or a ticket instead of a token;
// they authenticate with auth.
func (s *Service) Routes(register RegisterFunc, auth AuthFunc) {
	h := func(method, path, scope string, fn func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error) {
		register(method, path, scope, func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
			if err := fn(w, r, ps); err != nil {
				s.writeErr(w, r, err)
			}
		})
	}
	authed := func(scope string, fn func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error) func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
			p, err := auth(r, scope)
			if err != nil {
				return err
			}
			return fn(w, r.WithContext(api.WithPrincipal(r.Context(), p)), ps)
		}
	}
	h(http.MethodPost, "/api/v1/events/:topic", "", func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		if ps.ByName("topic") == "tickets" {
			return authed(scopeRead, s.handleTicket)(w, r, ps)
		}
		return authed(scopePublish, s.handlePublish)(w, r, ps)
	})
	h(http.MethodGet, "/api/v1/events", scopeRead, s.handleListEvents)
	h(http.MethodGet, "/api/v1/events/stream", "", func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		if t := r.URL.Query().Get("ticket"); t != "" {
			if err := s.ticket.Check(r.Context(), t); err != nil {
				if errors.Is(err, ErrBadTicket) {
					return &api.Error{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized,
						Message: "invalid or expired ticket: get a new one with POST /api/v1/events/tickets"}
				}
				return err
			}
			return s.handleStream(w, r, ps)
		}
		return authed(scopeRead, s.handleStream)(w, r, ps)
	})

	h(http.MethodGet, "/api/v1/triggers", scopeRead, s.handleListTriggers)
	h(http.MethodPost, "/api/v1/triggers", scopeDeploy, s.handleAddTrigger)
	h(http.MethodDelete, "/api/v1/triggers/:id", scopeDeploy, s.handleDeleteTrigger)

	h(http.MethodGet, "/api/v1/dead-letters", scopeRead, s.handleListDeadLetters)
	h(http.MethodGet, "/api/v1/dead-letters/:id", scopeRead, s.handleGetDeadLetter)
	h(http.MethodPost, "/api/v1/dead-letters/:id/retry", scopeDeploy, s.handleRetryDeadLetter)
	h(http.MethodDelete, "/api/v1/dead-letters/:id", scopeDeploy, s.handleDeleteDeadLetter)

	h(http.MethodGet, "/api/v1/schedules", scopeRead, s.handleListSchedules)
	h(http.MethodGet, "/api/v1/schedules/:id", scopeRead, s.handleGetSchedule)
	h(http.MethodPost, "/api/v1/schedules", scopeDeploy, s.handleAddSchedule)
	h(http.MethodDelete, "/api/v1/schedules/:id", scopeDeploy, s.handleDeleteSchedule)
	h(http.MethodPost, "/api/v1/schedules/:id/enable", scopeDeploy, s.handleEnableSchedule(true))
	h(http.MethodPost, "/api/v1/schedules/:id/disable", scopeDeploy, s.handleEnableSchedule(false))
}

// writeErr maps service errors to API errors and writes them.
func (s *Service) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, ErrInvalid):
		ae = &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: trimInvalid(err)}
	case errors.Is(err, store.ErrNotFound):
		ae = &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: err.Error()}
	case errors.Is(err, store.ErrConflict):
		ae = &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: err.Error()}
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		ae = &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal,
			Message: "internal error (see the server log)", Err: err}
	}
	api.WriteError(w, ae)
}

// trimInvalid drops the ": invalid" suffix of ErrInvalid from a message.
func trimInvalid(err error) string {
	msg := err.Error()
	suffix := ": " + ErrInvalid.Error()
	if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
		return msg[:len(msg)-len(suffix)]
	}
	return msg
}

func badRequest(format string, args ...any) error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func idParam(ps httprouter.Params, what string) (int64, error) {
	id, err := strconv.ParseInt(ps.ByName("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s id %q is not valid: want a positive integer", what, truncate(ps.ByName("id"), 40))
	}
	return id, nil
}

func intQuery(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("query parameter %s=%q is not valid: want an integer from %d to %d", name, truncate(v, 40), lo, hi)
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// PublishResponse is the answer of POST /api/v1/events/:topic (202).
type PublishResponse struct {
	ID          int64     `json:"id"`
	Topic       string    `json:"topic"`
	PublishedAt time.Time `json:"published_at"`
	// Deliveries is the number of subscribed functions the event was
	// queued for.
	Deliveries int `json:"deliveries"`
}

func (s *Service) handlePublish(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	topic := ps.ByName("topic")
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		return badRequest("read body: %v", err)
	}
	if len(body) > MaxPayloadBytes {
		return &api.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodeBodyTooLarge,
			Message: fmt.Sprintf("event payload is larger than %d bytes", MaxPayloadBytes)}
	}
	if len(body) == 0 {
		body = []byte("null")
	}
	if !json.Valid(body) {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadJSON, Message: "event payload is not valid JSON"}
	}
	source := "api"
	if p := api.PrincipalFrom(r.Context()); p != nil {
		source = "token:" + p.Name
	}
	pub, err := s.Publish(r.Context(), topic, body, source)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusAccepted, PublishResponse{ID: pub.Event.ID, Topic: pub.Event.Topic,
		PublishedAt: pub.Event.PublishedAt, Deliveries: pub.Deliveries})
	return nil
}

// EventList is the body of GET /api/v1/events.
type EventList struct {
	Events []store.Event `json:"events"`
}

func (s *Service) handleListEvents(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	after, err := intQuery(r, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := intQuery(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	topics := r.URL.Query()["topic"]
	for _, t := range topics {
		if err := ValidateTopic(t); err != nil {
			return err
		}
	}
	evs, err := s.st.EventsAfter(r.Context(), after, 0, topics, int(limit))
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []store.Event{}
	}
	api.WriteJSON(w, http.StatusOK, EventList{Events: evs})
	return nil
}

// Ticket is the answer of POST /api/v1/events/tickets.
type Ticket struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Service) handleTicket(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	t, exp, err := s.ticket.Issue(r.Context())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, Ticket{Ticket: t, ExpiresAt: exp})
	return nil
}

// TriggerRequest is the body of POST /api/v1/triggers: a topic, or
// dead_letters true.
type TriggerRequest struct {
	Function    string `json:"function"`
	Topic       string `json:"topic,omitempty"`
	DeadLetters bool   `json:"dead_letters,omitempty"`
}

// TriggerList is the body of GET /api/v1/triggers.
type TriggerList struct {
	Triggers []store.Trigger `json:"triggers"`
}

func (s *Service) handleAddTrigger(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var req TriggerRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Function == "" {
		return badRequest("function is missing")
	}
	kind, topic := store.TriggerKindTopic, req.Topic
	switch {
	case req.DeadLetters && req.Topic != "":
		return badRequest("give a topic or dead_letters, not both")
	case req.DeadLetters:
		kind = store.TriggerKindDeadLetters
	case req.Topic == "":
		return badRequest("topic is missing (or set dead_letters)")
	default:
		if err := ValidateTopic(topic); err != nil {
			return err
		}
	}
	t, err := s.st.AddTrigger(r.Context(), req.Function, kind, topic)
	if errors.Is(err, store.ErrNotFound) {
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound,
			Message: fmt.Sprintf("function %s not found", truncate(req.Function, 64))}
	}
	if errors.Is(err, store.ErrConflict) {
		return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict,
			Message: fmt.Sprintf("function %s already has this trigger", req.Function)}
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Service) handleListTriggers(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	ts, err := s.st.ListTriggers(r.Context(), r.URL.Query().Get("function"))
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []store.Trigger{}
	}
	api.WriteJSON(w, http.StatusOK, TriggerList{Triggers: ts})
	return nil
}

func (s *Service) handleDeleteTrigger(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "trigger")
	if err != nil {
		return err
	}
	if err := s.st.DeleteTrigger(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// DeadLetterList is the body of GET /api/v1/dead-letters.
type DeadLetterList struct {
	DeadLetters []store.DeadLetter `json:"dead_letters"`
}

func (s *Service) handleListDeadLetters(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	before, err := intQuery(r, "before", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := intQuery(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	dls, err := s.st.ListDeadLetters(r.Context(), r.URL.Query().Get("function"), before, int(limit))
	if err != nil {
		return err
	}
	if dls == nil {
		dls = []store.DeadLetter{}
	}
	api.WriteJSON(w, http.StatusOK, DeadLetterList{DeadLetters: dls})
	return nil
}

func (s *Service) handleGetDeadLetter(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "dead letter")
	if err != nil {
		return err
	}
	dl, err := s.st.GetDeadLetter(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, dl)
	return nil
}

func (s *Service) handleDeleteDeadLetter(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "dead letter")
	if err != nil {
		return err
	}
	if err := s.st.DeleteDeadLetter(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// RetryResponse is the answer of POST /api/v1/dead-letters/:id/retry.
type RetryResponse struct {
	DeadLetterID int64  `json:"dead_letter_id"`
	Function     string `json:"function"`
	// Queued is true: the delivery is back in the queue with its attempts
	// reset, and the dead letter is gone (a new one appears if it fails
	// again, with retries counting up).
	Queued bool `json:"queued"`
}

func (s *Service) handleRetryDeadLetter(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "dead letter")
	if err != nil {
		return err
	}
	dl, err := s.RetryDeadLetter(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusAccepted, RetryResponse{DeadLetterID: dl.ID, Function: dl.Function, Queued: true})
	return nil
}

// RetryDeadLetter moves dead letter id back to the queue as a new delivery
// with its attempts reset (the function's current max_attempts).
func (s *Service) RetryDeadLetter(ctx context.Context, id int64) (store.DeadLetter, error) {
	var dl store.DeadLetter
	err := s.st.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		dl, err = s.st.TakeDeadLetterTx(ctx, tx, id)
		if err != nil {
			return err
		}
		fn, err := s.cfg.Functions.Get(ctx, dl.Function)
		if err != nil {
			return fmt.Errorf("function %s of dead letter %d: %w", dl.Function, id, err)
		}
		view, err := json.Marshal(eventView{ID: dl.EventID, Topic: dl.Topic, Payload: dl.Payload, PublishedAt: dl.PublishedAt})
		if err != nil {
			return err
		}
		_, err = s.river.InsertTx(ctx, tx, DeliveryArgs{
			Function: dl.Function, Trigger: dl.Trigger, EventID: dl.EventID, Topic: dl.Topic,
			PublishedAt: dl.PublishedAt, Payload: dl.Payload, Event: view, Retries: dl.Retries + 1,
		}, &river.InsertOpts{Queue: queueName, MaxAttempts: max(fn.MaxAttempts, 1)})
		if err != nil {
			return fmt.Errorf("queue retry of dead letter %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return store.DeadLetter{}, err
	}
	return dl, nil
}

// ScheduleRequest is the body of POST /api/v1/schedules.
type ScheduleRequest struct {
	Function string          `json:"function"`
	Expr     string          `json:"expr"`
	TZ       string          `json:"tz,omitempty"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
}

// ScheduleInfo is a schedule with its next tick.
type ScheduleInfo struct {
	store.Schedule
	NextTickAt *time.Time `json:"next_tick_at,omitempty"`
}

// ScheduleList is the body of GET /api/v1/schedules.
type ScheduleList struct {
	Schedules []ScheduleInfo `json:"schedules"`
}

func (s *Service) scheduleInfo(sc store.Schedule) ScheduleInfo {
	info := ScheduleInfo{Schedule: sc}
	if sc.Enabled {
		if sched, loc, err := ParseSchedule(sc.Expr, sc.TZ); err == nil {
			next := nextTick(sched, loc, s.cfg.Now())
			info.NextTickAt = &next
		}
	}
	return info
}

func (s *Service) handleAddSchedule(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var req ScheduleRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Function == "" {
		return badRequest("function is missing")
	}
	if req.Expr == "" {
		return badRequest("expr is missing: give a cron expression like \"*/5 * * * *\" or \"@every 30s\"")
	}
	if req.TZ == "" {
		req.TZ = "UTC"
	}
	if _, _, err := ParseSchedule(req.Expr, req.TZ); err != nil {
		return err
	}
	if len(req.Payload) > MaxPayloadBytes {
		return badRequest("payload is larger than %d bytes", MaxPayloadBytes)
	}
	enabled := req.Enabled == nil || *req.Enabled
	sc, err := s.st.AddSchedule(r.Context(), store.Schedule{Function: req.Function, Expr: req.Expr,
		TZ: req.TZ, Payload: req.Payload, Enabled: enabled})
	if errors.Is(err, store.ErrNotFound) {
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound,
			Message: fmt.Sprintf("function %s not found", truncate(req.Function, 64))}
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, s.scheduleInfo(sc))
	return nil
}

func (s *Service) handleListSchedules(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	list, err := s.st.ListSchedules(r.Context(), r.URL.Query().Get("function"), false)
	if err != nil {
		return err
	}
	out := ScheduleList{Schedules: make([]ScheduleInfo, 0, len(list))}
	for _, sc := range list {
		out.Schedules = append(out.Schedules, s.scheduleInfo(sc))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) handleGetSchedule(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "schedule")
	if err != nil {
		return err
	}
	sc, err := s.st.GetSchedule(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, s.scheduleInfo(sc))
	return nil
}

func (s *Service) handleDeleteSchedule(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "schedule")
	if err != nil {
		return err
	}
	if err := s.st.DeleteSchedule(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleEnableSchedule(enabled bool) func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		id, err := idParam(ps, "schedule")
		if err != nil {
			return err
		}
		if err := s.st.SetScheduleEnabled(r.Context(), id, enabled); err != nil {
			return err
		}
		sc, err := s.st.GetSchedule(r.Context(), id)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, s.scheduleInfo(sc))
		return nil
	}
}

// InvokeAsync enqueues an asynchronous invocation of fn (api.AsyncInvoker).
func (s *Service) InvokeAsync(ctx context.Context, fn *store.Function, req *protocol.Request) (string, error) {
	return s.EnqueueInvocation(ctx, fn.Name, req)
}
