package worker

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime/debug"

	"github.com/picloud/picloud/protocol/wire"
)

// Limits of validate mode, set by the process on itself before it reads
// the source (the supervisor adds a cgroup and a wall-clock timeout where
// it can). A source passes the depth scan before it is parsed, so these
// only catch what that scan misses.
const (
	validateMaxStack   = 64 << 20  // Go stack of one goroutine (default 1 GB)
	validateMemory     = 512 << 20 // RLIMIT_DATA: what the process may map
	validateCPUSeconds = 10        // RLIMIT_CPU
)

// validateMain is validate mode (wire.ValidateArg): limit and sandbox the
// process, read the source on in, compile it, write a wire.ValidateResult
// on out. It returns the exit status: 0 when it answered.
func validateMain(in io.Reader, out io.Writer, logger Logger, inheritedFDs int) int {
	limitValidator(validateMemory, validateCPUSeconds)
	debug.SetMaxStack(validateMaxStack)
	debug.SetMemoryLimit(validateMemory / 2)
	// Landlock needs a directory to allow: an empty private one (the
	// supervisor removes its TMPDIR afterwards).
	dir, err := os.MkdirTemp("", "picloud-validate-")
	if err != nil {
		logger.Error("validate: make a private directory", "error", err)
		return 1
	}
	sb := applyProcessSandbox(dir, inheritedFDs)
	logger.Debug("validator sandbox applied", "summary", sb.summary)

	src, err := io.ReadAll(io.LimitReader(in, MaxSourceBytes+1))
	if err != nil {
		logger.Error("validate: read the source", "error", err)
		return 1
	}
	res := wire.ValidateResult{OK: true}
	if err := Validate(string(src)); err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			se = &SyntaxError{Message: err.Error()}
		}
		res = wire.ValidateResult{Error: se}
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		logger.Error("validate: write the result", "error", err)
		return 1
	}
	return 0
}
