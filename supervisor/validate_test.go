//go:build linux

package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/protocol"
)

func validateCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Sources are compiled in a worker process in validate mode: good ones
// pass, syntax errors keep their line and column, and the inputs built to
// overflow the compiler's stack or burn its CPU (a megabyte of unary
// operators, deeply nested blocks) are refused with a position while this
// process, standing in for serve, never parses them.
func TestSupervisor_ValidateSourceInAWorkerProcess(t *testing.T) {
	b := setup(t, nil)
	ctx := validateCtx(t)
	require.NoError(t, b.sup.ValidateSource(ctx, testSource("v1")))

	err := b.sup.ValidateSource(ctx, "function handle(req)\n  return 1 +\nend\n")
	var se *protocol.SyntaxError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 3, se.Line)
	require.Equal(t, 3, se.Column) // gopher-lua points at the end of the token
	require.Contains(t, se.Message, "syntax error near 'end'")

	const n = 1<<20 - 64
	for name, src := range map[string]string{
		"unary_chain": "return " + strings.Repeat("#", n) + "t",
		"do_nesting":  strings.Repeat("do ", n/8) + strings.Repeat("end ", n/8),
	} {
		err := b.sup.ValidateSource(ctx, src)
		require.ErrorAs(t, err, &se, name)
		require.Equal(t, 1, se.Line, name)
		require.Positive(t, se.Column, name)
		require.Contains(t, se.Message, "nested deeper than 200 levels", name)
	}

	err = b.sup.ValidateSource(ctx, strings.Repeat("x", 1<<20+1))
	require.ErrorAs(t, err, &se)
	require.Equal(t, "source of 1048577 bytes is over the limit of 1048576", se.Message)
	require.Empty(t, workerPIDs(t), "no validator process is left")
}

// writeValidator writes a shell script standing in for the worker binary.
func writeValidator(t *testing.T, body string) string {
	// Executable by a worker user too (one exists where the package is
	// installed), as /usr/bin is.
	// (t.TempDir's parent is 0700.)
	dir, err := os.MkdirTemp("", "picloud-validator-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	path := filepath.Join(dir, "validator.sh")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return path
}

// Whatever the validator does (crash, hang, print garbage), serve gets an
// answer: a crash or a hang is the script's failure to compile, garbage is
// a server-side error.
func TestSupervisor_ValidatorFailuresAreContained(t *testing.T) {
	cases := []struct {
		name, script string
		want         string // a *protocol.SyntaxError containing this, or "" for another error
		timeout      time.Duration
	}{
		{"crash", `cat >/dev/null; kill -SEGV $$`, "the validator failed", 0},
		{"hang", `cat >/dev/null; exec sleep 60`, "took too long", 500 * time.Millisecond},
		{"garbage", `cat >/dev/null; echo not json`, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sup, err := New(Config{WorkerPath: writeValidator(t, c.script), DisableCgroups: true, Logger: testLogger(t)})
			require.NoError(t, err)
			require.NoError(t, sup.Start(context.Background()))
			defer sup.Stop()
			ctx := validateCtx(t)
			if c.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.timeout)
				defer cancel()
			}
			err = sup.ValidateSource(ctx, "function handle(req) return 1 end")
			var se *protocol.SyntaxError
			if c.want == "" {
				require.Error(t, err)
				require.False(t, errors.As(err, &se), "got %v", err)
				return
			}
			require.ErrorAs(t, err, &se)
			require.Contains(t, se.Message, c.want)
		})
	}
}
