package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/supervisor"
)

// serveFn is the data plane: ANY /fn/:name[/*rest] runs the function's
// current version. Warm, it touches no database: the function comes from
// the cache, the record goes to the batched writer.
func (a *API) serveFn(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	name := ps.ByName("name")
	if err := validName("function name", name); err != nil {
		a.writeErr(w, r, err)
		return
	}
	f, err := a.deps.Functions.Get(r.Context(), name)
	if err != nil {
		a.writeErr(w, r, storeError(err, "function "+name))
		return
	}
	var stripAuth bool
	if f.Private {
		if _, err := a.authenticate(r, ScopeInvoke); err != nil {
			a.writeErr(w, r, err)
			return
		}
		stripAuth = true // the token is ours, not the function's
	}
	path := ps.ByName("rest")
	if path == "" {
		path = "/"
	}
	if r.Header.Get(HeaderAsync) == "1" {
		a.invokeAsync(w, r, f, path, stripAuth)
		return
	}
	a.run(w, r, f, path, stripAuth)
}

// invoke is POST /api/v1/functions/:name/invoke: the body is the function's
// req.body, the answer is the function's. ?async=1 enqueues instead;
// ?method=M and ?path=/P?Q give the function method M, path P and query Q
// (see invokeTarget).
func (a *API) invoke(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := nameParam(ps, "function name")
	if err != nil {
		return err
	}
	f, err := a.deps.Functions.Get(r.Context(), name)
	if err != nil {
		return storeError(err, "function "+name)
	}
	q := r.URL.Query()
	async := q.Get("async") == "1" || q.Get("async") == "true"
	path := "/"
	if q.Has("method") || q.Has("path") {
		if r, path, err = invokeTarget(r, q.Get("method"), q.Get("path")); err != nil {
			return err
		}
	}
	if async {
		a.invokeAsync(w, r, f, path, true)
		return nil
	}
	a.run(w, r, f, path, true)
	return nil
}

// buildRequest turns r into the function's request.
func (a *API) buildRequest(r *http.Request, id, path string, stripAuth bool) (*protocol.Request, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	headers := make(map[string]string, len(r.Header)+1)
	for k, vs := range r.Header {
		if stripAuth && k == "Authorization" {
			continue
		}
		lk := strings.ToLower(k)
		if len(vs) == 1 {
			headers[lk] = vs[0]
		} else {
			headers[lk] = strings.Join(vs, ", ")
		}
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	var query map[string][]string
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	return &protocol.Request{
		InvocationID: id,
		Method:       r.Method,
		Path:         path,
		Query:        query,
		Headers:      headers,
		Body:         body,
		Trigger:      protocol.TriggerHTTP,
	}, nil
}

// run invokes f synchronously and writes its answer.
func (a *API) run(w http.ResponseWriter, r *http.Request, f *store.Function, path string, stripAuth bool) {
	id := store.NewInvocationID()
	w.Header().Set(HeaderInvocationID, id)
	req, err := a.buildRequest(r, id, path, stripAuth)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	start := a.now()
	resp, err := a.deps.Supervisor.Invoke(r.Context(), f.Supervisor(), req)
	if errors.Is(err, supervisor.ErrRemoved) {
		// The pool went away while the call waited in its queue (a
		// delete, or a rollback replacing it): run the current version
		// if the function still exists.
		if cur, gerr := a.deps.Functions.Get(r.Context(), f.Name); gerr == nil {
			f = cur
			resp, err = a.deps.Supervisor.Invoke(r.Context(), f.Supervisor(), req)
		}
	}
	dur := a.now().Sub(start)
	inv := store.Invocation{
		ID:        id,
		Function:  f.Name,
		Version:   f.CurrentVersion,
		Trigger:   protocol.TriggerHTTP,
		Method:    r.Method,
		Path:      path,
		StartedAt: start,
		Duration:  dur,
	}
	if err != nil {
		e := invokeError(r.Context(), err)
		inv.Status = store.StatusFailed
		inv.HTTPStatus = e.Status
		inv.Error = err.Error()
		var ie *supervisor.InvokeError
		if errors.As(err, &ie) && ie.Traceback != "" {
			inv.Logs = append(inv.Logs, protocol.LogEntry{Time: a.now(), Level: "error", Message: ie.Traceback})
		}
		if resp != nil {
			inv.Logs = append(resp.Logs, inv.Logs...)
			inv.LogsDropped = resp.LogsDropped
		}
		a.record(&inv)
		if e.Status >= 500 && e.Err != nil && e.Code == CodeInternal {
			a.log.Error("invoke failed", "function", f.Name, "error", e.Err)
		}
		WriteError(w, e)
		return
	}
	inv.Status = store.StatusSucceeded
	inv.HTTPStatus = resp.Status
	inv.Logs = resp.Logs
	inv.LogsDropped = resp.LogsDropped
	if len(resp.Events) > 0 && resp.Status >= 500 {
		// A handler that answers 5xx failed by its own account: like an
		// async call or a delivery, it publishes nothing.
		inv.Logs = append(inv.Logs, protocol.LogEntry{Time: a.now(), Level: "warn",
			Message: fmt.Sprintf("%d emitted events not published: the handler answered %d", len(resp.Events), resp.Status)})
	} else if len(resp.Events) > 0 {
		// Recorded before answering: a caller who got the answer can
		// count on the events being published.
		if err := a.recordWithEvents(r.Context(), &inv, resp.Events); err != nil {
			a.writeErr(w, r, err)
			return
		}
		writeFnResponse(w, resp)
		return
	}
	a.record(&inv)
	writeFnResponse(w, resp)
}

// record hands inv to the writer (never blocking) and the observer.
func (a *API) record(inv *store.Invocation) {
	a.deps.Invocations.Add(*inv)
	if a.observe != nil {
		a.observe(inv)
	}
}

// recordEventsTimeout bounds recording a call with its emitted events;
// the caller going away does not cancel it (the handler already ran).
const recordEventsTimeout = 30 * time.Second

// recordWithEvents records the successful call inv together with the
// events its handler emitted, in one transaction of the events service.
// A non-nil error is the caller's answer: the events could not be
// published (invalid, or the database failed), and inv is then recorded
// as failed.
func (a *API) recordWithEvents(ctx context.Context, inv *store.Invocation, emitted []protocol.Event) error {
	if a.events == nil {
		a.log.Warn("events emitted by a synchronous call dropped: no events service",
			"function", inv.Function, "invocation_id", inv.ID, "events", len(emitted))
		a.record(inv)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordEventsTimeout)
	defer cancel()
	err := a.events.RecordInvocation(ctx, *inv, emitted)
	if err == nil {
		if a.observe != nil {
			a.observe(inv)
		}
		return nil
	}
	inv.Status = store.StatusFailed
	var e *Error
	if errors.As(err, &e) {
		// Recorded as failed by the recorder already.
		inv.Error = e.Message
		if a.observe != nil {
			a.observe(inv)
		}
		return e
	}
	// Nothing was recorded: keep a failed record through the writer.
	inv.Error = "record the invocation and publish its events: " + err.Error()
	a.record(inv)
	return internalError(fmt.Errorf("record invocation %s of %s with %d emitted events: %w", inv.ID, inv.Function, len(emitted), err))
}

// hopHeaders are not copied from a function's answer: the server owns them.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, "Trailer": true, "Te": true, "Proxy-Connection": true,
}

// writeFnResponse writes the function's status, headers and body.
func writeFnResponse(w http.ResponseWriter, resp *protocol.Response) {
	h := w.Header()
	for k, v := range resp.Headers {
		ck := http.CanonicalHeaderKey(k)
		if hopHeaders[ck] || ck == HeaderInvocationID || strings.ContainsAny(v, "\r\n") {
			continue
		}
		h.Set(ck, v)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	status := resp.Status
	if status < 100 || status > 999 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

// invokeError maps a supervisor failure to the caller's answer.
func invokeError(ctx context.Context, err error) *Error {
	var ie *supervisor.InvokeError
	switch {
	case errors.Is(err, supervisor.ErrOverloaded):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeOverloaded, RetryAfter: 1,
			Message: "function is overloaded: every worker is busy, retry later"}
	case errors.Is(err, supervisor.ErrStopped), errors.Is(err, supervisor.ErrNotStarted):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, RetryAfter: 1,
			Message: "server is shutting down"}
	case errors.Is(err, supervisor.ErrRemoved):
		return errorf(http.StatusNotFound, CodeNotFound, "function was removed")
	case errors.As(err, &ie):
		switch ie.Kind {
		case supervisor.KindTimeout:
			return &Error{Status: http.StatusGatewayTimeout, Code: CodeTimeout, Message: ie.Message}
		case supervisor.KindScript:
			return &Error{Status: http.StatusInternalServerError, Code: CodeScriptError, Message: ie.Message}
		case supervisor.KindMemory:
			return &Error{Status: http.StatusBadGateway, Code: CodeMemoryLimit, Message: ie.Message}
		default:
			return &Error{Status: http.StatusBadGateway, Code: CodeWorkerCrashed, Message: ie.Message}
		}
	case ctx.Err() != nil:
		// The client went away; nobody reads this answer.
		return &Error{Status: 499, Code: CodeUnavailable, Message: "client closed the request"}
	}
	return internalError(err)
}

// AsyncAccepted is the answer of an asynchronous invocation (202).
type AsyncAccepted struct {
	InvocationID string `json:"invocation_id"`
	Status       string `json:"status"` // "queued"
}

// invokeAsync hands the call to the events service.
func (a *API) invokeAsync(w http.ResponseWriter, r *http.Request, f *store.Function, path string, stripAuth bool) {
	if a.async == nil {
		a.writeErr(w, r, errorf(http.StatusNotImplemented, CodeBadRequest, "asynchronous invocation is not available on this server"))
		return
	}
	id := store.NewInvocationID()
	req, err := a.buildRequest(r, id, path, stripAuth)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	got, err := a.async.InvokeAsync(r.Context(), f, req)
	if err != nil {
		a.writeErr(w, r, asyncError(err))
		return
	}
	w.Header().Set(HeaderInvocationID, got)
	w.Header().Set("Location", "/api/v1/invocations/"+got)
	writeJSON(w, http.StatusAccepted, AsyncAccepted{InvocationID: got, Status: StatusQueued})
}

func asyncError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeNotFound, "function not found")
	}
	return internalError(fmt.Errorf("enqueue async invocation: %w", err))
}

// durationMS renders d in milliseconds with microsecond precision.
func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
