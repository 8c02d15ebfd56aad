package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/protocol/wire"
)

// Source validation runs the worker binary in validate mode: the untrusted
// source is parsed and compiled in a sandboxed process with its own limits
// (a cgroup where enforced, rlimits it sets on itself, a wall-clock
// timeout), never in the serve process.
const (
	// validateTimeout bounds one validation, start to answer.
	validateTimeout = 10 * time.Second
	// maxValidations bounds the validator processes running at once.
	maxValidations = 2
	// validateAnswerBytes bounds what is read of a validator's output.
	validateAnswerBytes = 64 << 10
)

// validateLimits are the cgroup limits of a validator process.
var validateLimits = functions.Limits{MemoryBytes: 256 << 20, CPU: 1, Timeout: validateTimeout, Concurrency: 1, MaxWorkers: 1, IdleTimeout: time.Second}

// ValidateSource compiles source (without running it) in a sandboxed,
// time- and memory-limited worker process. It returns nil when the source
// compiles, a *protocol.SyntaxError (with its position when known) when it
// does not or when the validator ran out of time or memory on it, ctx's
// error, ErrNotStarted or ErrStopped, or another error when the validator
// could not be run (a server-side failure).
func (s *Supervisor) ValidateSource(ctx context.Context, source string) error {
	if len(source) > wire.MaxSourceBytes {
		return &protocol.SyntaxError{Message: fmt.Sprintf("source of %d bytes is over the limit of %d", len(source), wire.MaxSourceBytes)}
	}
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.wg.Add(1) // Stop waits for it before closing the launcher
	s.nextID++
	id := s.nextID
	launcher, startCtx := s.launcher, s.startCtx
	s.mu.Unlock()
	defer s.wg.Done()

	select {
	case s.validating <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-startCtx.Done():
		return ErrStopped
	}
	defer func() { <-s.validating }()

	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	stop := context.AfterFunc(startCtx, cancel) // Stop kills a validator
	defer stop()

	cg, err := s.cgroups.create(fmt.Sprintf("v%d", id), validateLimits)
	if err != nil {
		if s.cfg.RequireLimits {
			return fmt.Errorf("validate source: %w", err)
		}
		s.log.Error("create validator cgroup: validating without a cgroup", "error", err)
		cg = nil
	}
	if cg != nil {
		defer cg.remove(s.log)
	}
	err = launcher.validate(ctx, source, cg)
	if err != nil && startCtx.Err() != nil {
		return ErrStopped
	}
	return err
}

// validate runs the worker in validate mode; see launcher.validate.
func (l *pluginLauncher) validate(ctx context.Context, source string, cg *workerCgroup) error {
	dir, err := os.MkdirTemp(l.runDir, "v")
	if err != nil {
		return fmt.Errorf("create validator directory: %w", err)
	}
	defer os.RemoveAll(dir)
	// The validator runs as a worker does: its own user, no capabilities.
	if err := shareSockDir(dir, l.id); err != nil {
		return err
	}
	cmd := exec.Command(l.path, append(slices.Clone(l.args), wire.ValidateArg)...)
	cmd.Env = append(workerEnv(validateLimits, dir), wire.MagicCookieKey+"="+wire.MagicCookieValue)
	cmd.SysProcAttr = workerSysProcAttr(cg)
	credentialAttr(cmd.SysProcAttr, l.id)
	cmd.Stdin = strings.NewReader(source)
	out := &cappedBuffer{max: validateAnswerBytes}
	errOut := &cappedBuffer{max: validateAnswerBytes}
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := l.sp.start(cmd, cg); err != nil {
		return fmt.Errorf("start validator %s: %w", l.path, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-waited
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &protocol.SyntaxError{Message: "the script took too long to compile"}
		}
		return ctx.Err()
	}
	if werr != nil {
		status := werr.Error()
		if cg != nil && cg.oomKilled() {
			return &protocol.SyntaxError{Message: fmt.Sprintf("the script needs more than %s of memory to compile", formatBytes(validateLimits.MemoryBytes))}
		}
		l.log.Warn("validator failed", "status", status, "stderr", lastLine(errOut.String()))
		return &protocol.SyntaxError{Message: "the script could not be compiled: the validator failed (" + status + ")"}
	}
	var res wire.ValidateResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return fmt.Errorf("read validator answer %q: %w", lastLine(out.String()), err)
	}
	switch {
	case res.OK:
		return nil
	case res.Error != nil:
		return res.Error
	}
	return errors.New("read validator answer: neither ok nor an error")
}

// cappedBuffer keeps the first max bytes written to it and drops the rest.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// lastLine is the last non-empty line of s, for logs.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
