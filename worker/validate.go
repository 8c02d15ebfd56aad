package worker

import (
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/picloud/picloud/protocol/wire"
)

// MaxSourceBytes bounds a function's source.
const MaxSourceBytes = wire.MaxSourceBytes

// maxSyntaxDepth bounds how deeply a source may nest, so parsing and
// compiling (recursive in gopher-lua's compiler) stay cheap and cannot
// exhaust the Go stack. Like Lua 5.1's own limit of 200 "syntax levels",
// it counts blocks, brackets and the operators and suffixes (.x, [k],
// (args), :m()) chained in one expression; see syntaxTooDeep.
const maxSyntaxDepth = 200

// SyntaxError is a syntax or compile error in a function's source, with
// its position (see wire.SyntaxError).
type SyntaxError = wire.SyntaxError

// Validate parses and compiles source the way a worker will, in the
// calling process, and returns a *SyntaxError if it cannot. It does not
// run the script (a missing handle function is found at Load). The depth
// scan comes first, so no input can make it recurse without bound; still,
// untrusted sources are validated in a worker process (validate mode, see
// wire.ValidateArg), never in serve.
func Validate(source string) error {
	_, err := compile(source, "function.lua", true)
	return err
}

// compile parses and compiles source; errors are *SyntaxError. With
// checkDepth, the depth scan runs first: validation at deploy always does;
// a worker's Load does not, so that a version stored before the limit
// existed still loads (it was compiled at its deploy; Load runs in the
// worker's sandbox and cgroup, where a failure ends only that worker).
func compile(source, name string, checkDepth bool) (*lua.FunctionProto, error) {
	if len(source) > MaxSourceBytes {
		return nil, &SyntaxError{Message: fmt.Sprintf("source of %d bytes is over the limit of %d", len(source), MaxSourceBytes)}
	}
	if checkDepth {
		if line, col := syntaxTooDeep(source); line > 0 {
			return nil, &SyntaxError{Line: line, Column: col, Message: fmt.Sprintf(
				"nested deeper than %d levels (blocks, brackets and operators chained in one expression count)", maxSyntaxDepth)}
		}
	}
	chunk, err := parse.Parse(strings.NewReader(source), name)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			se := &SyntaxError{Line: pe.Pos.Line, Column: pe.Pos.Column, Message: pe.Message}
			if pe.Pos.Line == parse.EOF {
				se.Line, se.Column = strings.Count(source, "\n")+1, 0
				se.Message = "unexpected end of source: " + pe.Message
			} else if pe.Token != "" {
				se.Message = fmt.Sprintf("%s near '%s'", pe.Message, pe.Token)
			}
			return nil, se
		}
		return nil, &SyntaxError{Message: strings.TrimSpace(err.Error())}
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, &SyntaxError{Line: ce.Line, Message: ce.Message}
		}
		return nil, &SyntaxError{Message: err.Error()}
	}
	return proto, nil
}
