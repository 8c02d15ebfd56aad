package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

// Bounds of FunctionRequest.MaxAttempts.
const (
	minMaxAttempts = 1
	maxMaxAttempts = 100
)

// nameParam returns the validated :name of the path.
func nameParam(ps httprouter.Params, what string) (string, error) {
	name := ps.ByName("name")
	if err := validName(what, name); err != nil {
		return "", err
	}
	return name, nil
}

// storeError maps a store error to the answer; what names the thing for a
// 404 or 409 ("function hello").
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%s not found", what)
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, CodeConflict, "%s already exists", what)
	case errors.Is(err, store.ErrInvalid):
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Message: err.Error()}
	}
	return internalError(err)
}

// functionView converts a store function to its JSON form.
func functionView(f *store.Function, withSource bool) Function {
	v := Function{
		Name:        f.Name,
		Version:     f.CurrentVersion,
		SHA256:      f.Current.SHA256,
		Private:     f.Private,
		MaxAttempts: f.MaxAttempts,
		Limits:      limitsView(f.Current.Limits),
		URL:         "/fn/" + f.Name,
		CreatedAt:   f.CreatedAt,
		UpdatedAt:   f.UpdatedAt,
	}
	if withSource {
		v.Source = f.Current.Source
		v.SourceBase64 = []byte(f.Current.Source)
	}
	return v
}

func limitsView(l functions.Limits) Limits {
	return Limits{
		Memory:      ByteSize(l.MemoryBytes),
		CPU:         l.CPU,
		Timeout:     Duration(l.Timeout),
		Concurrency: l.Concurrency,
		MinWarm:     l.MinWarm,
		MaxWorkers:  l.MaxWorkers,
		IdleTimeout: Duration(l.IdleTimeout),
	}
}

// deployParams validates a FunctionRequest over base (the defaults on
// create, the current version on update) and returns what the store keeps.
func (a *API) deployParams(r *http.Request, name string, req *FunctionRequest, base functions.Limits, private bool) (store.DeployParams, error) {
	l := base
	if req.Memory != nil {
		l.MemoryBytes = int64(*req.Memory)
	}
	if req.CPU != nil {
		l.CPU = *req.CPU
	}
	if req.Timeout != nil {
		l.Timeout = time.Duration(*req.Timeout)
	}
	if req.Concurrency != nil {
		l.Concurrency = *req.Concurrency
	}
	if req.MinWarm != nil {
		l.MinWarm = *req.MinWarm
	}
	if req.MaxWorkers != nil {
		l.MaxWorkers = *req.MaxWorkers
	}
	if req.IdleTimeout != nil {
		l.IdleTimeout = time.Duration(*req.IdleTimeout)
	}
	if req.Private != nil {
		private = *req.Private
	}
	src, err := requestSource(req)
	if err != nil {
		return store.DeployParams{}, err
	}
	p := store.DeployParams{Name: name, Source: src, Private: private, Limits: l}
	if req.MaxAttempts != nil {
		if *req.MaxAttempts < minMaxAttempts || *req.MaxAttempts > maxMaxAttempts {
			return p, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidLimit, Field: "max_attempts",
				Message: fmt.Sprintf("max_attempts: %d is out of range: use %d to %d", *req.MaxAttempts, minMaxAttempts, maxMaxAttempts)}
		}
		p.MaxAttempts = *req.MaxAttempts
	}
	if err := l.Validate(); err != nil {
		var le *functions.LimitError
		if errors.As(err, &le) {
			return p, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidLimit, Field: le.Field, Message: le.Error()}
		}
		return p, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidLimit, Message: err.Error()}
	}
	if err := a.validateSource(src); err != nil {
		return p, err
	}
	if pr := PrincipalFrom(r.Context()); pr != nil {
		p.CreatedBy = pr.Name
	}
	return p, nil
}

// requestSource returns the script of req: Source, or the exact bytes of
// SourceBase64.
func requestSource(req *FunctionRequest) (string, error) {
	if req.SourceBase64 == nil {
		return req.Source, nil
	}
	if req.Source != "" {
		return "", &Error{Status: http.StatusBadRequest, Code: CodeInvalidValue, Field: "source_base64",
			Message: "both source and source_base64 are set: send the script once, as source_base64 for its exact bytes"}
	}
	return string(req.SourceBase64), nil
}

// SourceError is a script that does not compile: what Deps.ValidateSource
// returns (the server converts *worker.SyntaxError to it). Answered 422.
type SourceError struct {
	Line, Column int
	Message      string
}

func (e *SourceError) Error() string { return e.Message }

// validateSource checks the script: present, UTF-8 agnostic, compiles.
func (a *API) validateSource(src string) error {
	if src == "" {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "source",
			Message: "source is empty: send the Lua script that defines handle(req)"}
	}
	if a.deps.ValidateSource == nil {
		return nil
	}
	err := a.deps.ValidateSource(src)
	if err == nil {
		return nil
	}
	e := &Error{Status: http.StatusUnprocessableEntity, Code: CodeSyntaxError, Field: "source", Message: err.Error()}
	var se *SourceError
	if errors.As(err, &se) {
		e.Line, e.Column = se.Line, se.Column
		if se.Line > 0 {
			e.Message = fmt.Sprintf("Lua syntax error at line %d, column %d: %s", se.Line, se.Column, se.Message)
		}
	}
	return e
}

func (a *API) listFunctions(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	fs, err := a.deps.Store.ListFunctions(r.Context())
	if err != nil {
		return internalError(err)
	}
	out := FunctionList{Functions: make([]Function, 0, len(fs))}
	for _, f := range fs {
		out.Functions = append(out.Functions, functionView(f, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getFunction(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := nameParam(ps, "function name")
	if err != nil {
		return err
	}
	f, err := a.deps.Store.GetFunction(r.Context(), name)
	if err != nil {
		return storeError(err, "function "+name)
	}
	withSource := r.URL.Query().Get("source") != ""
	writeJSON(w, http.StatusOK, functionView(f, withSource))
	return nil
}

func (a *API) createFunction(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	var req FunctionRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := validName("function name", req.Name); err != nil {
		return err
	}
	p, err := a.deployParams(r, req.Name, &req, functions.DefaultLimits(), false)
	if err != nil {
		return err
	}
	f, err := a.deps.Store.CreateFunction(r.Context(), p)
	if err != nil {
		return storeError(err, "function "+req.Name)
	}
	a.deployToSupervisor(r, f, false)
	w.Header().Set("Location", "/api/v1/functions/"+f.Name)
	writeJSON(w, http.StatusCreated, functionView(f, false))
	return nil
}

func (a *API) updateFunction(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := nameParam(ps, "function name")
	if err != nil {
		return err
	}
	var req FunctionRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Name != "" && req.Name != name {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidName, Field: "name",
			Message: fmt.Sprintf("name %q in the body differs from %q in the path: omit it or make them equal", truncate(req.Name, 80), name)}
	}
	cur, err := a.deps.Store.GetFunction(r.Context(), name)
	if err != nil {
		return storeError(err, "function "+name)
	}
	p, err := a.deployParams(r, name, &req, cur.Current.Limits, cur.Private)
	if err != nil {
		return err
	}
	f, err := a.deps.Store.DeployVersion(r.Context(), p)
	if err != nil {
		return storeError(err, "function "+name)
	}
	a.deployToSupervisor(r, f, false)
	writeJSON(w, http.StatusOK, functionView(f, false))
	return nil
}

// deployToSupervisor makes f current in this node's supervisor now (old
// workers retire, min_warm workers start). Other nodes pick the version up
// on their next call, through their function cache. A failure here is not
// the deploy's: the version is stored, the next call will retry.
//
// The supervisor keeps the newest version it has seen, so that a call that
// read the old version just before a deploy does not bring it back. A
// rollback makes an older version current: its pool is removed first
// (replace), so the older version can take its place.
func (a *API) deployToSupervisor(r *http.Request, f *store.Function, replace bool) {
	a.deps.Functions.Invalidate(f.Name)
	if replace {
		a.deps.Supervisor.Remove(f.Name)
	}
	if err := a.deps.Supervisor.Deploy(r.Context(), f.Spec()); err != nil {
		a.log.Warn("supervisor deploy failed", "function", f.Name, "version", f.CurrentVersion, "error", err)
	}
}

func (a *API) deleteFunction(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := nameParam(ps, "function name")
	if err != nil {
		return err
	}
	if err := a.deps.Store.DeleteFunction(r.Context(), name); err != nil {
		return storeError(err, "function "+name)
	}
	a.deps.Functions.Invalidate(name)
	a.deps.Supervisor.Remove(name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listVersions(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := nameParam(ps, "function name")
	if err != nil {
		return err
	}
	f, err := a.deps.Store.GetFunction(r.Context(), name)
	if err != nil {
		return storeError(err, "function "+name)
	}
	vs, err := a.deps.Store.ListVersions(r.Context(), name)
	if err != nil {
		return storeError(err, "function "+name)
	}
	out := VersionList{Versions: make([]Version, 0, len(vs))}
	for _, v := range vs {
		out.Versions = append(out.Versions, Version{
			Version:   v.Version,
			SHA256:    v.SHA256,
			Limits:    limitsView(v.Limits),
			Private:   f.Private,
			Current:   v.Version == f.CurrentVersion,
			CreatedAt: v.CreatedAt,
			CreatedBy: v.CreatedBy,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := nameParam(ps, "function name")
	if err != nil {
		return err
	}
	var req RollbackRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	if req.Version < 0 {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "version",
			Message: fmt.Sprintf("version %d is invalid: use a version number from `picloud versions %s`, or omit it for the previous one", req.Version, name)}
	}
	f, err := a.deps.Store.Rollback(r.Context(), name, req.Version)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if _, gerr := a.deps.Store.GetFunction(r.Context(), name); gerr != nil {
				return storeError(gerr, "function "+name)
			}
			if req.Version == 0 {
				return errorf(http.StatusNotFound, CodeNotFound, "function %s has no version older than the current one", name)
			}
			return errorf(http.StatusNotFound, CodeNotFound, "function %s has no version %d", name, req.Version)
		}
		return storeError(err, "function "+name)
	}
	a.deployToSupervisor(r, f, true)
	writeJSON(w, http.StatusOK, functionView(f, false))
	return nil
}

// getVersion is GET /api/v1/functions/:name/versions/:version: one version
// with its source (the dashboard's diff).
func (a *API) getVersion(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	name, err := nameParam(ps, "function name")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(ps.ByName("version"))
	if err != nil || n < 1 {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "version",
			Message: fmt.Sprintf("version %q is not a version number", truncate(ps.ByName("version"), 20))}
	}
	v, err := a.deps.Store.GetVersion(r.Context(), name, n)
	if err != nil {
		return storeError(err, fmt.Sprintf("version %d of function %s", n, name))
	}
	out := Version{Version: v.Version, SHA256: v.SHA256, Limits: limitsView(v.Limits), CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy}
	if utf8.ValidString(v.Source) {
		out.Source = v.Source
	} else {
		out.SourceBase64 = []byte(v.Source)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
