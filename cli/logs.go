package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/picloud/picloud/api"
)

func logsCommand() *command {
	return &command{
		Name:    "logs",
		Args:    "NAME [-f] [-n N] [flags]",
		Summary: "show recent invocations of a function with their log lines",
		Description: `Shows the last N invocations of the function NAME, oldest first, each with
its version, trigger, status, duration and the lines it logged (log.info and
friends) or its error. With -f it keeps following: new invocations are
printed as they are recorded (invocation records are written in batches, so
they show up a moment after the call) until interrupted with Ctrl-C.`,
		Example: "picloud logs hello -n 5\npicloud logs hello -f\npicloud logs hello --status failed --json",
		Run:     runLogs,
	}
}

// followState remembers which invocations were printed while following.
type followState struct {
	seen map[string]bool
}

func runLogs(ctx context.Context, a *app, c *command, args []string) error {
	fs := newFlags(c)
	follow := fs.Bool("follow", false, "keep printing new invocations until interrupted")
	alias(fs, "f", "follow")
	n := fs.Int("lines", 20, "show the last `N` invocations (0-500)")
	alias(fs, "n", "lines")
	status := fs.String("status", "", "only invocations with this `STATUS` (succeeded, failed)")
	asJSON := fs.Bool("json", false, "print invocations as JSON (one object per line with -f)")
	interval := time.Second
	fs.Var(durationValue{&interval}, "interval", "with -f, how often to ask the server for new invocations")
	pos, err := a.parse(c, fs, args, "NAME")
	if err != nil {
		return err
	}
	if *n < 0 || *n > 500 {
		return usagef(c, "-n must be between 0 and 500")
	}
	if *follow && interval < 100*time.Millisecond {
		return usagef(c, "--interval must be at least 100ms")
	}
	name := pos[0]
	cl := a.client()
	q := InvocationQuery{Function: name, Status: *status, Limit: *n}
	var invs []api.Invocation
	if *n > 0 {
		page, err := cl.Invocations(ctx, q)
		if err != nil {
			return fmt.Errorf("list invocations of %s: %w", name, err)
		}
		invs = page.Invocations
	}
	if len(invs) == 0 {
		// An empty list may mean a typo: say so if there is no such function.
		if _, err := cl.GetFunction(ctx, name); isNotFound(err) {
			return fmt.Errorf("no function named %q (picloud ls lists them)", name)
		}
	}
	invs, err = withLogs(ctx, cl, invs)
	if err != nil {
		return err
	}
	slices.Reverse(invs) // oldest first
	if *asJSON && !*follow {
		return printJSON(a.env.Stdout, api.InvocationList{Invocations: nonNil(invs)})
	}
	st := &followState{seen: map[string]bool{}}
	if *follow {
		// Everything recorded so far counts as seen, shown or not (-n 0).
		page, err := cl.Invocations(ctx, InvocationQuery{Function: name, Status: *status, Limit: 100})
		if err != nil {
			return fmt.Errorf("list invocations of %s: %w", name, err)
		}
		for _, inv := range page.Invocations {
			if final(inv.Status) {
				st.seen[inv.ID] = true
			}
		}
	}
	for _, inv := range invs {
		if err := a.printInvocation(inv, *asJSON); err != nil {
			return err
		}
		if final(inv.Status) {
			st.seen[inv.ID] = true
		}
	}
	if !*follow {
		if len(invs) == 0 && !*asJSON {
			fmt.Fprintf(a.env.Stderr, "no invocations of %s yet\n", clean(name))
		}
		return nil
	}
	fmt.Fprintf(a.env.Stderr, "following new invocations of %s (Ctrl-C to stop)\n", clean(name))
	return a.follow(ctx, cl, q, st, interval, *asJSON)
}

// follow polls the invocations API for records not printed yet. Records
// are only printed once they are final (async ones start queued).
func (a *app) follow(ctx context.Context, cl *Client, q InvocationQuery, st *followState, interval time.Duration, asJSON bool) error {
	const pageSize, maxPages = 100, 5
	q.Limit, q.Cursor = pageSize, ""
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var fresh []api.Invocation
		var pageIDs []string
		qq := q
		for range maxPages {
			page, err := cl.Invocations(ctx, qq)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("follow invocations of %s: %w", q.Function, err)
			}
			sawOld := false
			for _, inv := range page.Invocations {
				pageIDs = append(pageIDs, inv.ID)
				switch {
				case st.seen[inv.ID]:
					sawOld = true
				case final(inv.Status):
					fresh = append(fresh, inv)
				}
			}
			if sawOld || page.NextCursor == "" {
				break
			}
			qq.Cursor = page.NextCursor
		}
		fresh, err := withLogs(ctx, cl, fresh)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		slices.Reverse(fresh)
		for _, inv := range fresh {
			if err := a.printInvocation(inv, asJSON); err != nil {
				return err
			}
			st.seen[inv.ID] = true
		}
		if len(st.seen) > 10000 {
			// Forget all but what the server lists first; older records
			// cannot come back to the top of the list.
			st.seen = map[string]bool{}
			for _, id := range pageIDs {
				st.seen[id] = true
			}
		}
	}
}

func final(status string) bool {
	return status != api.StatusQueued && status != api.StatusRunning
}

// withLogs fetches each invocation again with its log lines (the list
// route leaves them out). A record pruned in between is kept as listed.
func withLogs(ctx context.Context, cl *Client, invs []api.Invocation) ([]api.Invocation, error) {
	out := make([]api.Invocation, len(invs))
	for i, inv := range invs {
		full, err := cl.Invocation(ctx, inv.ID)
		switch {
		case isNotFound(err):
			full = inv
		case err != nil:
			return nil, fmt.Errorf("read invocation %s: %w", inv.ID, err)
		}
		out[i] = full
	}
	return out, nil
}

// printInvocation writes one invocation: a header line, its log lines
// indented, and its error.
func (a *app) printInvocation(inv api.Invocation, asJSON bool) error {
	if asJSON {
		return writeJSONLine(a.env.Stdout, inv)
	}
	w := a.env.Stdout
	status := inv.Status
	if inv.HTTPStatus != 0 {
		status += fmt.Sprintf(" %d", inv.HTTPStatus)
	}
	trigger := inv.Trigger
	if inv.Method != "" {
		trigger += " " + inv.Method + " " + inv.Path
	}
	// Everything but the layout comes from the server (and much of it from
	// the function): escaped, and a multi-line message gets one prefixed
	// line per line, so it cannot pass for a record of its own.
	fmt.Fprintf(w, "%s  %s v%d  %s  %s  %s  %s\n", inv.StartedAt.Local().Format("2006-01-02 15:04:05.000"),
		clean(inv.Function), inv.Version, clean(trigger), clean(status), formatMS(inv.DurationMS), clean(inv.ID))
	for _, l := range inv.Logs {
		for line := range strings.SplitSeq(strings.TrimRight(l.Message, "\n"), "\n") {
			fmt.Fprintf(w, "    %s %-5s %s\n", l.Time.Local().Format("15:04:05.000"), clean(strings.ToUpper(l.Level)), sanitize(line, "\t"))
		}
	}
	if inv.LogsDropped > 0 {
		fmt.Fprintf(w, "    (%d more log lines dropped over the per-call limit)\n", inv.LogsDropped)
	}
	if inv.Error != "" {
		for line := range strings.SplitSeq(strings.TrimRight(inv.Error, "\n"), "\n") {
			fmt.Fprintf(w, "    error: %s\n", sanitize(line, "\t"))
		}
	}
	return nil
}

func formatMS(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.0fµs", ms*1000)
	case ms < 1000:
		return fmt.Sprintf("%.1fms", ms)
	}
	return (time.Duration(ms * float64(time.Millisecond))).Round(time.Millisecond).String()
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = w.Write(append(escapeJSON(b), '\n'))
	return err
}
