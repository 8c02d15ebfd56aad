package wire

import "fmt"

// ValidateArg runs a worker in validate mode (`picloud-worker validate`):
// it sandboxes and limits itself, reads one Lua source on stdin (at most
// MaxSourceBytes), compiles it without running it, prints a ValidateResult
// as one JSON line on stdout and exits 0. Untrusted sources are compiled
// there, never in the serve process. Like the go-plugin mode, it needs the
// handshake cookie in its environment.
const ValidateArg = "validate"

// MaxSourceBytes bounds a function's source.
const MaxSourceBytes = 1 << 20

// ValidateResult is the answer of validate mode: OK, or the source's
// syntax error.
type ValidateResult struct {
	OK    bool         `json:"ok"`
	Error *SyntaxError `json:"error,omitempty"`
}

// SyntaxError is a syntax or compile error in a function's source, with
// its position (Line and Column from 1; 0 when unknown, Line at the end of
// the source for "unexpected end").
type SyntaxError struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// Error formats the position and the message.
func (e *SyntaxError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
	}
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return e.Message
}
