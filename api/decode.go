package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// readBody reads the whole request body, bounded by the server's limit
// (the MaxBytesReader set by the middleware): too large → 413.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength == 0 {
		return nil, nil // a server request with no body (chunked ones have -1)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
				"request body is larger than the limit of %s", ByteSize(mbe.Limit))
		}
		return nil, errorf(http.StatusBadRequest, CodeBadRequest, "read request body: %v", err)
	}
	return b, nil
}

// decodeJSON reads the body into v: one JSON object, no unknown fields.
// allowEmpty accepts an empty body (v is left as is).
func decodeJSON(r *http.Request, v any, allowEmpty bool) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if allowEmpty {
			return nil
		}
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body is empty: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(b, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		line, col := position(b, int(dec.InputOffset()))
		return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON, Line: line, Column: col,
			Message: fmt.Sprintf("invalid JSON: unexpected data after the object at line %d, column %d", line, col)}
	}
	return nil
}

// jsonError turns a decoding error into a 400 (or 422 for a ValueError)
// that says where the problem is.
func jsonError(b []byte, dec *json.Decoder, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		val *ValueError
	)
	switch {
	case errors.As(err, &syn):
		line, col := position(b, int(syn.Offset))
		return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON, Line: line, Column: col,
			Message: fmt.Sprintf("invalid JSON at line %d, column %d (byte %d): %s", line, col, syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))}
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(b, len(b))
		return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON, Line: line, Column: col,
			Message: fmt.Sprintf("invalid JSON: the body ends early at line %d, column %d", line, col)}
	case errors.As(err, &typ):
		line, col := position(b, int(typ.Offset))
		field := typ.Field
		if field == "" {
			return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON, Line: line, Column: col,
				Message: fmt.Sprintf("invalid JSON: want an object, got %s", typ.Value)}
		}
		return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON, Field: field, Line: line, Column: col,
			Message: fmt.Sprintf("field %q at line %d, column %d: want %s, got %s", field, line, col, jsonKind(typ.Type.String()), typ.Value)}
	case errors.As(err, &val):
		line, col := position(b, int(dec.InputOffset()))
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalidLimit, Field: val.Field, Line: line, Column: col,
			Message: fmt.Sprintf("invalid value near line %d, column %d: %s", line, col, val.Message)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Status: http.StatusBadRequest, Code: CodeUnknownField, Field: field,
			Message: fmt.Sprintf("unknown field %q in the request body", field)}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body is larger than the limit of %s", ByteSize(mbe.Limit))
	}
	return errorf(http.StatusBadRequest, CodeBadJSON, "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go type the way a JSON user thinks of it.
func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "string"):
		return "a string"
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}

// position converts a byte offset of b into a 1-based line and column.
func position(b []byte, off int) (line, col int) {
	if off > len(b) {
		off = len(b)
	}
	if off < 0 {
		off = 0
	}
	line = 1 + bytes.Count(b[:off], []byte{'\n'})
	col = off - bytes.LastIndexByte(b[:off], '\n')
	return line, col
}

// nameRE is the shape of function and token names; isName checks it
// without the regexp engine (every /fn call checks a name).
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// isName reports whether name matches nameRE.
func isName(name string) bool {
	if len(name) < 1 || len(name) > 63 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validName checks a function or token name; what says which ("function
// name", "token name").
func validName(what, name string) error {
	switch {
	case name == "":
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidName, Field: "name",
			Message: what + " is missing"}
	case !utf8.ValidString(name) || strings.ContainsRune(name, utf8.RuneError):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidName, Field: "name",
			Message: what + " is not valid UTF-8: use lowercase letters, digits and '-'"}
	case !isName(name):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidName, Field: "name",
			Message: fmt.Sprintf("%s %q is invalid: use 1 to 63 lowercase letters, digits and '-', starting with a letter", what, truncate(name, 80))}
	}
	return nil
}

// truncate shortens s to at most n bytes for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
