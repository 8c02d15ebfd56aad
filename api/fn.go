package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/invoke"
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
	if a.fnCORS(w, r, f) { // a preflight, answered without the function
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
		if !f.Private && !f.AllowAsync {
			// Queued calls cost the database: a public function takes
			// them from anyone only if deployed with --allow-async.
			if r.Header.Get("Authorization") == "" {
				a.writeErr(w, r, &Error{Status: http.StatusForbidden, Code: CodeAsyncNotAllowed,
					Message: "asynchronous calls of " + f.Name + " are off: deploy it with --allow-async (\"allow_async\": true), or send a token with the invoke scope"})
				return
			}
			if _, err := a.authenticate(r, ScopeInvoke); err != nil {
				a.writeErr(w, r, err)
				return
			}
			stripAuth = true
		}
		if a.fnRateLimited(w, r, f) {
			return
		}
		a.invokeAsync(w, r, f, path, stripAuth)
		return
	}
	if a.fnRateLimited(w, r, f) { // before a worker is touched
		return
	}
	a.run(w, r, f, path, stripAuth, false)
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
	// The console shows whether the call started a worker. A call through
	// the control plane (picloud invoke, the dashboard's console) keeps
	// its record whatever the policy: its caller reads it.
	ctx, _ := supervisor.WithStartReport(r.Context())
	a.run(w, r.WithContext(ctx), f, path, true, true)
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
		lk := lowerHeaderName(k)
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

// run invokes f synchronously through the invoker and writes its answer;
// keep keeps its record whatever the record policy.
func (a *API) run(w http.ResponseWriter, r *http.Request, f *store.Function, path string, stripAuth, keep bool) {
	id := functions.NewInvocationID()
	w.Header()[invocationIDKey] = []string{id}
	req, err := a.buildRequest(r, id, path, stripAuth)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	res := a.deps.Invoker.Call(r.Context(), f, req)
	if rep := supervisor.StartReportFrom(r.Context()); rep != nil && rep.Known {
		w.Header().Set(HeaderStart, map[bool]string{true: "cold", false: "warm"}[rep.Cold])
	}
	res.Record.Result = nil // the caller gets the body; records keep none
	res.KeepRecord = keep
	if !res.Outcome.Retryable() && res.Outcome != functions.OutcomeGone {
		// Recorded before answering: a caller who got the answer can
		// count on the events being published.
		if err := a.deps.Invoker.Record(r.Context(), &res, nil); err != nil {
			a.writeErr(w, r, internalError(err))
			return
		}
	}
	// The handler's own answer, a 5xx one included, goes to the caller.
	if resp := res.Response; resp != nil && (res.Outcome == functions.OutcomeOK ||
		res.Outcome == functions.OutcomeError && resp.Status >= 500) {
		a.writeFnResponse(w, f.Name, resp)
		return
	}
	e := invokeError(res)
	if e.Status >= 500 && e.Err != nil && e.Code == CodeInternal {
		a.log.Error("invoke failed", "function", f.Name, "error", e.Err)
	}
	WriteError(w, e)
}

// invokeError maps a failed run to the caller's answer.
func invokeError(res invoke.Result) *Error {
	msg := res.Err.Error()
	var ie *supervisor.InvokeError
	if errors.As(res.Err, &ie) {
		msg = ie.Message
	}
	status := res.Outcome.HTTPStatus(0)
	switch res.Outcome {
	case functions.OutcomeOverloaded:
		return &Error{Status: status, Code: CodeOverloaded, RetryAfter: 1,
			Message: "function is overloaded: every worker is busy, retry later"}
	case functions.OutcomeUnavailable:
		return &Error{Status: status, Code: CodeUnavailable, RetryAfter: 1, Message: "server is shutting down"}
	case functions.OutcomeGone:
		return errorf(status, CodeNotFound, "function was removed")
	case functions.OutcomeTimeout:
		return &Error{Status: status, Code: CodeTimeout, Message: msg}
	case functions.OutcomeError:
		return &Error{Status: status, Code: CodeScriptError, Message: msg}
	case functions.OutcomeMemory:
		return &Error{Status: status, Code: CodeMemoryLimit, Message: msg}
	case functions.OutcomeCrash:
		return &Error{Status: status, Code: CodeWorkerCrashed, Message: msg}
	case functions.OutcomeCanceled:
		// The client went away; nobody reads this answer.
		return &Error{Status: status, Code: CodeUnavailable, Message: "client closed the request"}
	}
	return internalError(res.Err)
}

// AsyncAccepted is the answer of an asynchronous invocation (202).
type AsyncAccepted struct {
	InvocationID string `json:"invocation_id"`
	Status       string `json:"status"` // "queued"
}

// invokeAsync hands the call to the events service.
func (a *API) invokeAsync(w http.ResponseWriter, r *http.Request, f *store.Function, path string, stripAuth bool) {
	if a.events == nil {
		a.writeErr(w, r, errorf(http.StatusNotImplemented, CodeBadRequest, "asynchronous invocation is not available on this server"))
		return
	}
	id := functions.NewInvocationID()
	req, err := a.buildRequest(r, id, path, stripAuth)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	got, err := a.events.InvokeAsync(r.Context(), f, req)
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
	if errors.Is(err, events.ErrQueueFull) {
		return &Error{Status: http.StatusTooManyRequests, Code: CodeQueueFull, RetryAfter: 5,
			Message: err.Error() + ": retry later"}
	}
	return internalError(fmt.Errorf("enqueue async invocation: %w", err))
}

// durationMS renders d in milliseconds with microsecond precision.
func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
