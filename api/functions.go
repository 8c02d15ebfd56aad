package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
		AllowAsync:  f.AllowAsync,
		MaxAttempts: f.MaxAttempts,
		Limits:      limitsView(f.Current.Limits),
		Secrets:     nonNilStrings(f.Current.Secrets),
		AllSecrets:  f.Current.AllSecrets,
		AllowNet:    nonNilStrings(f.Current.AllowNet),
		Blobs:       nonNilStrings(f.Current.Blobs),
		URL:         "/fn/" + f.Name,
		CreatedAt:   f.CreatedAt,
		UpdatedAt:   f.UpdatedAt,
	}
	if withSource {
		v.Source = f.Current.Source
		v.SourceBase64 = []byte(f.Current.Source)
	}
	v.FrontView = frontView(f.Current.Front)
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

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// deployParams validates a FunctionRequest over base (the defaults on
// create, the current version on update) and returns what the store keeps.
// private and allowAsync are the settings kept when req omits them.
// Omitted secrets keep the current version's grants; widening them needs
// the secrets scope (both checked by the store in the deploy).
func (a *API) deployParams(r *http.Request, name string, req *FunctionRequest, base functions.Limits, private, allowAsync bool, allowNet []string) (store.DeployParams, error) {
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
	if req.AllowAsync != nil {
		allowAsync = *req.AllowAsync
	}
	p := store.DeployParams{Name: name, Source: src, Private: private, AllowAsync: allowAsync, Limits: l, AllowNet: allowNet}
	if req.AllowNet != nil {
		if p.AllowNet, err = netGrants(*req.AllowNet); err != nil {
			return p, err
		}
	}
	if req.MaxAttempts != nil {
		if *req.MaxAttempts < minMaxAttempts || *req.MaxAttempts > maxMaxAttempts {
			return p, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidLimit, Field: "max_attempts",
				Message: fmt.Sprintf("max_attempts: %d is out of range: use %d to %d", *req.MaxAttempts, minMaxAttempts, maxMaxAttempts)}
		}
		p.MaxAttempts = *req.MaxAttempts
	}
	err = l.Validate()
	if err == nil { // min_warm must fit under this node's worker cap
		err = a.deps.Supervisor.CheckMinWarm(name, l.MinWarm)
	}
	if err != nil {
		var le *functions.LimitError
		if errors.As(err, &le) {
			return p, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidLimit, Field: le.Field, Message: le.Error()}
		}
		return p, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidLimit, Message: err.Error()}
	}
	if p.Secrets, err = secretGrants(req.Secrets); err != nil {
		return p, err
	}
	// Omitted grants are the current version's, and the widening check is
	// against the current version, both settled by the store with the
	// function locked (a concurrent deploy or rollback cannot slip in).
	p.KeepSecrets = req.Secrets == nil
	if p.Blobs, err = blobGrants(req.Blobs); err != nil {
		return p, err
	}
	p.KeepBlobs = req.Blobs == nil
	p.CheckSecrets = func(cur *store.Version, grants []string) error {
		return checkGrantWidening(r, name, cur, grants)
	}
	if err := a.validateSource(r.Context(), src); err != nil {
		return p, err
	}
	if pr := PrincipalFrom(r.Context()); pr != nil {
		p.CreatedBy = pr.Name
	}
	return p, nil
}

// secretGrants returns the validated, sorted, deduplicated names of req;
// nil when omitted (the store then keeps the current version's grants).
func secretGrants(req *[]string) ([]string, error) {
	if req == nil {
		return nil, nil
	}
	if len(*req) > MaxSecretGrants {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "secrets",
			Message: fmt.Sprintf("secrets: %d names is over the limit of %d", len(*req), MaxSecretGrants)}
	}
	out := make([]string, 0, len(*req))
	for _, n := range *req {
		if !secretNameRE.MatchString(n) {
			return nil, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "secrets",
				Message: fmt.Sprintf("secrets: name %q is invalid: use 1 to 128 letters, digits, '_', '.', '-', starting with a letter or '_'", truncate(n, 80))}
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// checkGrantWidening refuses, without the secrets scope, grants that the
// current version cur (nil: none) does not already hold by name: a deploy
// token may keep or narrow a function's secrets, never reach new ones. A
// version from before grants (AllSecrets) holds no name here, so a deploy
// token cannot turn its blanket access into grants of its own choosing.
func checkGrantWidening(r *http.Request, name string, cur *store.Version, grants []string) error {
	pr := PrincipalFrom(r.Context())
	if pr.Has(ScopeSecrets) {
		return nil
	}
	var added []string
	for _, g := range grants {
		if cur == nil || !slices.Contains(cur.Secrets, g) {
			added = append(added, g)
		}
	}
	if len(added) == 0 {
		return nil
	}
	who := "this token"
	if pr != nil {
		who = "token " + pr.Name
	}
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Field: "secrets",
		Message: fmt.Sprintf("%s lacks the %s scope: granting function %s the secrets %s needs it (a deploy token may keep or narrow the grants of the current version)",
			who, ScopeSecrets, name, strings.Join(added, ", "))}
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
func (a *API) validateSource(ctx context.Context, src string) error {
	if src == "" {
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidValue, Field: "source",
			Message: "source is empty: send the Lua script that defines handle(req)"}
	}
	if a.deps.ValidateSource == nil {
		return nil
	}
	err := a.deps.ValidateSource(ctx, src)
	if err == nil {
		return nil
	}
	var se *SourceError
	if !errors.As(err, &se) {
		// Not the script's fault: the validator could not run.
		return internalError(fmt.Errorf("validate source: %w", err))
	}
	e := &Error{Status: http.StatusUnprocessableEntity, Code: CodeSyntaxError, Field: "source", Message: se.Message,
		Line: se.Line, Column: se.Column}
	if se.Line > 0 {
		e.Message = fmt.Sprintf("Lua syntax error at line %d, column %d: %s", se.Line, se.Column, se.Message)
	}
	return e
}

// Function listing pages: ?limit= (default and maximum below) and
// ?after=NAME, the Next of the previous page.
const (
	defaultFunctionPage = 100
	maxFunctionPage     = 1000
)

func (a *API) listFunctions(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	limit, err := intQuery(r, "limit", defaultFunctionPage, 1, maxFunctionPage)
	if err != nil {
		return err
	}
	after := r.URL.Query().Get("after")
	// One more than asked says whether there is a next page.
	fs, err := a.deps.Store.ListFunctionsPage(r.Context(), after, int(limit)+1)
	if err != nil {
		return internalError(err)
	}
	out := FunctionList{Functions: make([]Function, 0, min(len(fs), int(limit)))}
	for i, f := range fs {
		if i == int(limit) {
			out.Next = fs[i-1].Name
			break
		}
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
	p, err := a.deployParams(r, req.Name, &req, functions.DefaultLimits(), false, false, nil)
	if err != nil {
		return err
	}
	if p.Front, err = frontParams(&req.FrontRequest, store.Front{}); err != nil {
		return err
	}
	f, err := a.deps.Store.CreateFunction(r.Context(), p)
	if ae := (*Error)(nil); errors.As(err, &ae) {
		return ae
	}
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
	p, err := a.deployParams(r, name, &req, cur.Current.Limits, cur.Private, cur.AllowAsync, cur.Current.AllowNet)
	if err != nil {
		return err
	}
	if p.Front, err = frontParams(&req.FrontRequest, cur.Current.Front); err != nil {
		return err
	}
	f, err := a.deps.Store.DeployVersion(r.Context(), p)
	if ae := (*Error)(nil); errors.As(err, &ae) {
		return ae
	}
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
	if !a.deps.Roles.Data {
		return // a control node owns no workers
	}
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
	a.rates.forget(name) // other nodes keep theirs (bounded: MaxIPBuckets) until they restart
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
			Version:    v.Version,
			SHA256:     v.SHA256,
			Limits:     limitsView(v.Limits),
			Secrets:    nonNilStrings(v.Secrets),
			AllSecrets: v.AllSecrets,
			AllowNet:   nonNilStrings(v.AllowNet),
			Blobs:      nonNilStrings(v.Blobs),
			Private:    f.Private,
			Current:    v.Version == f.CurrentVersion,
			CreatedAt:  v.CreatedAt,
			CreatedBy:  v.CreatedBy,

			FrontView: frontView(v.Front),
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
	f, err := a.deps.Store.RollbackChecked(r.Context(), name, req.Version, func(cur, target *store.Version) error {
		// The target's grants were chosen when it was deployed; a rollback
		// may narrow the current ones, widening them needs the scope.
		switch {
		case cur.AllSecrets:
			return nil
		case target.AllSecrets:
			return checkGrantWidening(r, name, cur, []string{"(every secret: version " + strconv.Itoa(target.Version) + " is from before grants)"})
		}
		return checkGrantWidening(r, name, cur, target.Secrets)
	})
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
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
	out := Version{Version: v.Version, SHA256: v.SHA256, Limits: limitsView(v.Limits), CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy,
		AllowNet: nonNilStrings(v.AllowNet), Blobs: nonNilStrings(v.Blobs)}
	out.FrontView = frontView(v.Front)
	if utf8.ValidString(v.Source) {
		out.Source = v.Source
	} else {
		out.SourceBase64 = []byte(v.Source)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
