package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/store"
)

// PublishResponse is the answer of POST /api/v1/events/:topic (202).
type PublishResponse struct {
	ID          int64     `json:"id"`
	Topic       string    `json:"topic"`
	PublishedAt time.Time `json:"published_at"`
	// Deliveries is the number of subscribed functions the event was
	// queued for.
	Deliveries int `json:"deliveries"`
}

// PublishBatchResponse is the answer of POST /api/v1/events/:topic?batch=1
// (202): the events in the order of the request, with increasing ids.
type PublishBatchResponse struct {
	Topic  string            `json:"topic"`
	Events []PublishResponse `json:"events"`
	// Deliveries is the number of deliveries queued for all the events.
	Deliveries int `json:"deliveries"`
}

// publishEvent is POST /api/v1/events/:topic: the body is one event's JSON
// payload, or with ?batch=1 a JSON array of payloads, one event each,
// published in one transaction (all or none).
func (a *API) publishEvent(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	topic := ps.ByName("topic")
	if err := events.ValidateTopic(topic); err != nil {
		return err
	}
	batch, err := boolQuery(r, "batch")
	if err != nil {
		return err
	}
	source := "api"
	if p := PrincipalFrom(r.Context()); p != nil {
		source = "token:" + p.Name
	}
	if batch {
		return a.publishBatch(w, r, topic, source)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, events.MaxPayloadBytes+1))
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadRequest, "read body: %v", err)
	}
	if len(body) > events.MaxPayloadBytes {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
			Message: fmt.Sprintf("event payload is larger than %d bytes", events.MaxPayloadBytes)}
	}
	if len(body) == 0 {
		body = []byte("null")
	}
	if !json.Valid(body) {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON, Message: "event payload is not valid JSON"}
	}
	pub, err := a.events.Publish(r.Context(), topic, body, source)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusAccepted, publishView(pub))
	return nil
}

func publishView(p events.Published) PublishResponse {
	return PublishResponse{ID: p.Event.ID, Topic: p.Event.Topic, PublishedAt: p.Event.PublishedAt, Deliveries: p.Deliveries}
}

// publishBatch publishes the payloads of a JSON array body.
func (a *API) publishBatch(w http.ResponseWriter, r *http.Request, topic, source string) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var payloads []json.RawMessage
	if err := json.Unmarshal(body, &payloads); err != nil || payloads == nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON,
			Message: "with batch=1 the body must be a JSON array of event payloads, like [{\"id\":1},{\"id\":2}]"}
	}
	switch {
	case len(payloads) == 0:
		return errorf(http.StatusBadRequest, CodeBadRequest, "the batch is empty: give at least one payload")
	case len(payloads) > events.MaxBatchEvents:
		return errorf(http.StatusRequestEntityTooLarge, CodeBatchTooLarge,
			"the batch has %d events, more than %d: split it into several requests", len(payloads), events.MaxBatchEvents)
	}
	for i, p := range payloads {
		if len(p) > events.MaxPayloadBytes {
			return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
				"payload %d (from 0) is %d bytes, larger than %d", i, len(p), events.MaxPayloadBytes)
		}
	}
	pubs, err := a.events.PublishBatch(r.Context(), topic, payloads, source)
	if err != nil {
		return err
	}
	out := PublishBatchResponse{Topic: topic, Events: make([]PublishResponse, len(pubs))}
	for i, p := range pubs {
		out.Events[i] = publishView(p)
		out.Deliveries += p.Deliveries
	}
	WriteJSON(w, http.StatusAccepted, out)
	return nil
}

// boolQuery reads an optional boolean query parameter (1, true, 0, false).
func boolQuery(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, errorf(http.StatusBadRequest, CodeBadRequest, "query parameter %s=%q is not valid: want 1, true, 0 or false", name, truncate(v, 40))
	}
}

// EventList is the body of GET /api/v1/events.
type EventList struct {
	Events []Event `json:"events"`
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
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
		if err := events.ValidateTopic(t); err != nil {
			return err
		}
	}
	evs, err := a.evst.EventsAfter(r.Context(), after, 0, topics, int(limit))
	if err != nil {
		return err
	}
	out := EventList{Events: make([]Event, len(evs))}
	for i, ev := range evs {
		out.Events[i] = eventView(ev)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// Ticket is the answer of POST /api/v1/events/tickets.
type Ticket struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// issueTicket is POST /api/v1/events/tickets[?topic=a&topic=b]: a ticket
// bound to the caller's token that opens only the topics named (every
// topic when none is).
func (a *API) issueTicket(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	p := PrincipalFrom(r.Context())
	if p == nil {
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "a ticket needs a bearer token")
	}
	t, exp, err := a.events.IssueTicket(r.Context(), p.TokenID, r.URL.Query()["topic"])
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, Ticket{Ticket: t, ExpiresAt: exp})
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
	Triggers []Trigger `json:"triggers"`
	// Next, when set, is the after= of the next page.
	Next string `json:"next,omitempty"`
}

func (a *API) addTrigger(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var req TriggerRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Function == "" {
		return errorf(http.StatusBadRequest, CodeBadRequest, "function is missing")
	}
	kind, topic := store.TriggerKindTopic, req.Topic
	switch {
	case req.DeadLetters && req.Topic != "":
		return errorf(http.StatusBadRequest, CodeBadRequest, "give a topic or dead_letters, not both")
	case req.DeadLetters:
		kind = store.TriggerKindDeadLetters
	case req.Topic == "":
		return errorf(http.StatusBadRequest, CodeBadRequest, "topic is missing (or set dead_letters)")
	default:
		if err := events.ValidateTopic(topic); err != nil {
			return err
		}
	}
	t, err := a.evst.AddTrigger(r.Context(), req.Function, kind, topic)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("function %s not found", truncate(req.Function, 64))}
	}
	if errors.Is(err, store.ErrConflict) {
		return &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("function %s already has this trigger", req.Function)}
	}
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, triggerView(t))
	return nil
}

func (a *API) listTriggers(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	limit, after, err := idPage(r)
	if err != nil {
		return err
	}
	// One more than asked says whether there is a next page.
	ts, err := a.evst.ListTriggersPage(r.Context(), r.URL.Query().Get("function"), after, limit+1)
	if err != nil {
		return err
	}
	out := TriggerList{Triggers: make([]Trigger, min(len(ts), limit)),
		Next: idNext(len(ts), limit, func(i int) int64 { return ts[i].ID })}
	for i := range out.Triggers {
		out.Triggers[i] = triggerView(ts[i])
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteTrigger(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "trigger")
	if err != nil {
		return err
	}
	if err := a.evst.DeleteTrigger(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// DeadLetterList is the body of GET /api/v1/dead-letters.
type DeadLetterList struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
}

func (a *API) listDeadLetters(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	before, err := intQuery(r, "before", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := intQuery(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	dls, err := a.evst.ListDeadLetters(r.Context(), r.URL.Query().Get("function"), before, int(limit))
	if err != nil {
		return err
	}
	out := DeadLetterList{DeadLetters: make([]DeadLetter, len(dls))}
	for i, dl := range dls {
		out.DeadLetters[i] = deadLetterView(dl)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getDeadLetter(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "dead letter")
	if err != nil {
		return err
	}
	dl, err := a.evst.GetDeadLetter(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, deadLetterView(dl))
	return nil
}

func (a *API) deleteDeadLetter(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "dead letter")
	if err != nil {
		return err
	}
	if err := a.evst.DeleteDeadLetter(r.Context(), id); err != nil {
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

func (a *API) retryDeadLetter(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "dead letter")
	if err != nil {
		return err
	}
	dl, err := a.events.RetryDeadLetter(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusAccepted, RetryResponse{DeadLetterID: dl.ID, Function: dl.Function, Queued: true})
	return nil
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

// ScheduleList is the body of GET /api/v1/schedules.
type ScheduleList struct {
	Schedules []Schedule `json:"schedules"`
	// Next, when set, is the after= of the next page.
	Next string `json:"next,omitempty"`
}

func (a *API) scheduleView(sc store.Schedule) Schedule {
	out := Schedule{ID: sc.ID, Function: sc.Function, Expr: sc.Expr, TZ: sc.TZ, Payload: sc.Payload,
		Enabled: sc.Enabled, LastTickAt: sc.LastTickAt, CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt}
	if sc.Enabled {
		if next, err := events.NextFire(sc.Expr, sc.TZ, a.now()); err == nil {
			out.NextTickAt = &next
		}
	}
	return out
}

func (a *API) addSchedule(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var req ScheduleRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Function == "" {
		return errorf(http.StatusBadRequest, CodeBadRequest, "function is missing")
	}
	if req.Expr == "" {
		return errorf(http.StatusBadRequest, CodeBadRequest, "expr is missing: give a cron expression like \"*/5 * * * *\" or \"@every 30s\"")
	}
	if req.TZ == "" {
		req.TZ = "UTC"
	}
	if _, _, err := events.ParseSchedule(req.Expr, req.TZ); err != nil {
		return err
	}
	if len(req.Payload) > events.MaxPayloadBytes {
		return errorf(http.StatusBadRequest, CodeBadRequest, "payload is larger than %d bytes", events.MaxPayloadBytes)
	}
	enabled := req.Enabled == nil || *req.Enabled
	sc, err := a.evst.AddSchedule(r.Context(), store.Schedule{Function: req.Function, Expr: req.Expr,
		TZ: req.TZ, Payload: req.Payload, Enabled: enabled})
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("function %s not found", truncate(req.Function, 64))}
	}
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, a.scheduleView(sc))
	return nil
}

func (a *API) listSchedules(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	limit, after, err := idPage(r)
	if err != nil {
		return err
	}
	// One more than asked says whether there is a next page.
	list, err := a.evst.ListSchedulesPage(r.Context(), r.URL.Query().Get("function"), false, after, limit+1)
	if err != nil {
		return err
	}
	out := ScheduleList{Schedules: make([]Schedule, 0, min(len(list), limit)),
		Next: idNext(len(list), limit, func(i int) int64 { return list[i].ID })}
	for _, sc := range list[:min(len(list), limit)] {
		out.Schedules = append(out.Schedules, a.scheduleView(sc))
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getSchedule(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "schedule")
	if err != nil {
		return err
	}
	sc, err := a.evst.GetSchedule(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, a.scheduleView(sc))
	return nil
}

func (a *API) deleteSchedule(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	id, err := idParam(ps, "schedule")
	if err != nil {
		return err
	}
	if err := a.evst.DeleteSchedule(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) enableSchedule(enabled bool) func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		id, err := idParam(ps, "schedule")
		if err != nil {
			return err
		}
		if err := a.evst.SetScheduleEnabled(r.Context(), id, enabled); err != nil {
			return err
		}
		sc, err := a.evst.GetSchedule(r.Context(), id)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, a.scheduleView(sc))
		return nil
	}
}
