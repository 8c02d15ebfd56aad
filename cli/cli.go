// Package cli is the picloud command line: every role of the single binary
// (server, migrations, worker) and the client commands that drive a running
// server through its control-plane API (deploy, ls, invoke, logs, tokens,
// secrets). cmd/picloud only calls Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
)

// Version is the version of this build. It is the one package-level
// variable of cli, and only the linker writes it: the Makefile passes
// -X github.com/picloud/picloud/cli.Version=$(VERSION).
var Version = "dev"

// Exit codes of Main.
const (
	ExitOK      = 0 // the command did what was asked
	ExitFailure = 1 // the command ran and failed (server error, non-2xx)
	ExitUsage   = 2 // the command line was wrong
)

// Env is what a command may touch of the outside world. Main fills it from
// the process; tests may build their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable ("" when unset).
	Getenv func(string) string
}

// Main runs the command line args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}, args)
}

// Run is Main with an explicit environment.
func Run(ctx context.Context, env Env, args []string) int {
	a := &app{env: env, cmds: commands()}
	err := a.dispatch(ctx, args)
	return a.exitCode(err)
}

// app is one run of the command line.
type app struct {
	env  Env
	cmds []*command
}

// command is one (sub)command. Groups ("token", "secrets") have Subs and no
// Run.
type command struct {
	// Name is the full name as typed: "deploy", "token create".
	Name string
	// Args is the usage after the name: "FILE.lua [flags]".
	Args string
	// Summary is one line for the command list.
	Summary string
	// Description is a paragraph for --help.
	Description string
	// Example is one or more example lines for --help.
	Example string
	// Hidden commands run but are not listed.
	Hidden bool
	// Run parses its own flags (with a.parse) and does the work.
	Run func(ctx context.Context, a *app, c *command, args []string) error
	// Subs are the subcommands of a group.
	Subs []*command
}

// commands is the command tree, built per run (no package-level state).
func commands() []*command {
	cmds := []*command{
		deployCommand(),
		lsCommand(),
		invokeCommand(),
		logsCommand(),
		versionsCommand(),
		rollbackCommand(),
		rmCommand(),
		tokenCommand(),
		secretsCommand(),
		blobCommand(), // blobs.go
		nodesCommand(),
	}
	cmds = append(cmds, eventsCommands()...) // events.go
	cmds = append(cmds,
		serveCommand(),
		migrateCommand(),
		workerCommand(),
		versionCommand(),
	)
	return cmds
}

// usageError is a wrong command line: exit code 2, with the usage of cmd.
type usageError struct {
	cmd *command // nil for the top level
	msg string
}

func (e *usageError) Error() string { return e.msg }

// errHelpShown means --help was asked for and printed: exit code 0.
var errHelpShown = errors.New("help shown")

// errSilent is a failure whose message was already printed.
var errSilent = errors.New("failed")

// exitCodeError is a failure whose message was already printed and whose
// exit code was chosen by the command.
type exitCodeError int

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func usagef(cmd *command, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// exitCode prints err for the user and maps it to an exit code.
func (a *app) exitCode(err error) int {
	var ue *usageError
	var ec exitCodeError
	switch {
	case errors.As(err, &ec):
		return int(ec)
	case err == nil, errors.Is(err, errHelpShown):
		return ExitOK
	case errors.Is(err, errSilent):
		return ExitFailure
	case errors.As(err, &ue):
		if ue.cmd == nil {
			fmt.Fprintf(a.env.Stderr, "picloud: %s\nRun 'picloud --help' for the list of commands.\n", clean(ue.msg))
		} else {
			fmt.Fprintf(a.env.Stderr, "picloud %s: %s\nusage: picloud %s %s\nRun 'picloud %s --help' for details.\n",
				ue.cmd.Name, clean(ue.msg), ue.cmd.Name, ue.cmd.Args, ue.cmd.Name)
		}
		return ExitUsage
	default:
		fmt.Fprintf(a.env.Stderr, "picloud: %s\n", sanitize(err.Error(), "\n\t"))
		return ExitFailure
	}
}

func isHelpArg(s string) bool {
	return s == "-h" || s == "-help" || s == "--help" || s == "help"
}

// dispatch finds the command named by the leading args and runs it.
func (a *app) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		a.printTopHelp(a.env.Stderr)
		return &usageError{msg: "no command given"}
	}
	if isHelpArg(args[0]) {
		if len(args) > 1 && args[0] == "help" {
			// "picloud help deploy" is "picloud deploy --help".
			return a.dispatch(ctx, append(args[1:], "--help"))
		}
		a.printTopHelp(a.env.Stdout)
		return errHelpShown
	}
	if args[0] == "--version" || args[0] == "-v" {
		args = []string{"version"}
	}
	list := a.cmds
	var group *command
	for {
		name := args[0]
		c := find(list, name)
		if c == nil {
			if group == nil {
				return &usageError{msg: fmt.Sprintf("unknown command %q%s", name, suggest(list, name))}
			}
			if isHelpArg(name) {
				a.printGroupHelp(a.env.Stdout, group)
				return errHelpShown
			}
			return usagef(group, "unknown subcommand %q%s", name, suggest(list, name))
		}
		args = args[1:]
		if c.Run != nil {
			return c.Run(ctx, a, c, args)
		}
		group, list = c, c.Subs
		if len(args) == 0 {
			return &usageError{cmd: group, msg: "missing subcommand"}
		}
	}
}

func find(list []*command, name string) *command {
	for _, c := range list {
		if lastWord(c.Name) == name {
			return c
		}
	}
	return nil
}

func lastWord(s string) string {
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		return s[i+1:]
	}
	return s
}

// suggest returns ` (did you mean "x"?)` for a close visible command name.
func suggest(list []*command, name string) string {
	best, bestD := "", 3 // at most two edits away
	for _, c := range list {
		if c.Hidden {
			continue
		}
		w := lastWord(c.Name)
		d := editDistance(name, w)
		if len(name) >= 2 && strings.HasPrefix(w, name) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = w, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func (a *app) printTopHelp(w io.Writer) {
	fmt.Fprintf(w, `PiCloud: upload a Lua script, get an HTTP endpoint.

usage: picloud COMMAND [ARGS] [FLAGS]

Commands:
`)
	a.printCommandList(w, a.cmds)
	fmt.Fprint(w, `
Environment:
  PICLOUD_URL       server to talk to (default http://127.0.0.1:8080)
  PICLOUD_TOKEN     API token (default: the admin token in <data-dir>/admin.token)
  PICLOUD_DATA_DIR  data directory (default ./.picloud)

Run 'picloud COMMAND --help' for the flags and an example of each command.
`)
}

func (a *app) printCommandList(w io.Writer, list []*command) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range list {
		if c.Hidden {
			continue
		}
		if c.Run == nil {
			names := make([]string, 0, len(c.Subs))
			for _, s := range c.Subs {
				if !s.Hidden {
					names = append(names, lastWord(s.Name))
				}
			}
			fmt.Fprintf(tw, "  %s %s\t%s\n", c.Name, strings.Join(names, "|"), c.Summary)
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
}

func (a *app) printGroupHelp(w io.Writer, g *command) {
	fmt.Fprintf(w, "usage: picloud %s %s\n\n%s\n\nSubcommands:\n", g.Name, g.Args, g.Description)
	a.printCommandList(w, g.Subs)
	if g.Example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", indent(g.Example))
	}
	fmt.Fprintf(w, "\nRun 'picloud %s SUBCOMMAND --help' for details.\n", g.Name)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

// versionString is "picloud VERSION (GOVERSION linux/arm64)".
func versionString() string {
	return fmt.Sprintf("picloud %s (%s %s/%s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
