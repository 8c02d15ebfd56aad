package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/picloud/picloud/store"
)

// Error is an answer for the user: an HTTP status, a code from the Code*
// constants and a message. Handlers return it; writeError renders it.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string
	Line    int
	Column  int
	// RetryAfter, when positive, sets the Retry-After header (seconds).
	RetryAfter int
	// Err is the cause, logged for 5xx answers, never shown.
	Err error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// errorf builds an *Error with a formatted message.
func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// internalError hides err from the caller (it is logged) and answers 500,
// or 503 with Retry-After when the database is out of reach (restarting,
// network down): the request may work in a moment.
func internalError(err error) *Error {
	if errors.Is(err, store.ErrUnavailable) {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, RetryAfter: 1,
			Message: "the database is unavailable: try again in a moment", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Message: "internal error (see the server log)", Err: err}
}

// body returns the JSON body of e.
func (e *Error) body() ErrorBody {
	return ErrorBody{Error: e.Message, Code: e.Code, Field: e.Field, Line: e.Line, Column: e.Column}
}

// writeJSON writes v as the JSON answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error (see the server log)","code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	b = append(b, '\n')
	_, _ = w.Write(b)
}

// asError turns any error into an *Error (500 for unknown ones).
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return internalError(err)
}
