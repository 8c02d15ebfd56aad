package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/store"
)

// eventRoutes registers the events API:
//
//	POST   /api/v1/events/:topic              publish (scope publish); ?batch=1: a JSON array, one event each
//	POST   /api/v1/events/tickets[?topic=]    a stream ticket (scope read), bound to the token and topics
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
// they authenticate themselves.
func (a *API) eventRoutes() {
	h := func(method, path, scope string, fn handlerFunc) {
		a.handle(method, path, scope, func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
			if a.events == nil {
				return errorf(http.StatusNotImplemented, CodeUnavailable, "events are not available on this server")
			}
			return eventsError(fn(w, r, ps))
		})
	}
	authed := func(scope string, fn handlerFunc) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
			p, err := a.authenticate(r, scope)
			if err != nil {
				return err
			}
			return fn(w, r.WithContext(WithPrincipal(r.Context(), p)), ps)
		}
	}
	h(http.MethodPost, "/api/v1/events/:topic", "", func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		if ps.ByName("topic") == "tickets" {
			return authed(ScopeRead, a.issueTicket)(w, r, ps)
		}
		return authed(ScopePublish, a.publishEvent)(w, r, ps)
	})
	h(http.MethodGet, "/api/v1/events", ScopeRead, a.listEvents)
	h(http.MethodGet, "/api/v1/events/stream", "", func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
		if t := r.URL.Query().Get("ticket"); t != "" {
			tk, err := a.events.CheckTicket(r.Context(), t)
			if err != nil {
				return err
			}
			return a.stream(w, r, tk.TokenID, &tk)
		}
		p, err := a.authenticate(r, ScopeRead)
		if err != nil {
			return err
		}
		return a.stream(w, r, p.TokenID, nil)
	})

	h(http.MethodGet, "/api/v1/triggers", ScopeRead, a.listTriggers)
	h(http.MethodPost, "/api/v1/triggers", ScopeDeploy, a.addTrigger)
	h(http.MethodDelete, "/api/v1/triggers/:id", ScopeDeploy, a.deleteTrigger)

	h(http.MethodGet, "/api/v1/dead-letters", ScopeRead, a.listDeadLetters)
	h(http.MethodGet, "/api/v1/dead-letters/:id", ScopeRead, a.getDeadLetter)
	h(http.MethodPost, "/api/v1/dead-letters/:id/retry", ScopeDeploy, a.retryDeadLetter)
	h(http.MethodDelete, "/api/v1/dead-letters/:id", ScopeDeploy, a.deleteDeadLetter)

	h(http.MethodGet, "/api/v1/schedules", ScopeRead, a.listSchedules)
	h(http.MethodGet, "/api/v1/schedules/:id", ScopeRead, a.getSchedule)
	h(http.MethodPost, "/api/v1/schedules", ScopeDeploy, a.addSchedule)
	h(http.MethodDelete, "/api/v1/schedules/:id", ScopeDeploy, a.deleteSchedule)
	h(http.MethodPost, "/api/v1/schedules/:id/enable", ScopeDeploy, a.enableSchedule(true))
	h(http.MethodPost, "/api/v1/schedules/:id/disable", ScopeDeploy, a.enableSchedule(false))
}

// eventsError maps the events service's and the store's errors to answers.
func eventsError(err error) error {
	var ae *Error
	switch {
	case err == nil, errors.As(err, &ae):
		return err
	case errors.Is(err, events.ErrBadTicket):
		return errorf(http.StatusUnauthorized, CodeUnauthorized,
			"invalid or expired ticket: get a new one with POST /api/v1/events/tickets")
	case errors.Is(err, events.ErrRevoked):
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "the token of this stream was revoked")
	case errors.Is(err, events.ErrTooManyStreams):
		return &Error{Status: http.StatusTooManyRequests, Code: CodeTooManyStreams, RetryAfter: 5,
			Message: err.Error() + ": close one (or raise --max-streams-per-token)"}
	case errors.Is(err, events.ErrBatchTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, CodeBatchTooLarge, "%s", err.Error())
	case errors.Is(err, events.ErrInvalid):
		return errorf(http.StatusBadRequest, CodeBadRequest, "%s", trimInvalid(err))
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%s", err.Error())
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, CodeConflict, "%s", err.Error())
	}
	return internalError(err)
}

// trimInvalid drops the ": invalid" suffix of events.ErrInvalid.
func trimInvalid(err error) string {
	msg := err.Error()
	suffix := ": " + events.ErrInvalid.Error()
	if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
		return msg[:len(msg)-len(suffix)]
	}
	return msg
}

func idParam(ps httprouter.Params, what string) (int64, error) {
	id, err := strconv.ParseInt(ps.ByName("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "%s id %q is not valid: want a positive integer", what, truncate(ps.ByName("id"), 40))
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
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "query parameter %s=%q is not valid: want an integer from %d to %d", name, truncate(v, 40), lo, hi)
	}
	return n, nil
}
