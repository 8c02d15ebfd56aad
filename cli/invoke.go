package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/picloud/picloud/api"
)

func invokeCommand() *command {
	return &command{
		Name:    "invoke",
		Args:    "NAME[/PATH][?QUERY] [-d DATA | -d @FILE] [flags]",
		Summary: "call a function and print its answer",
		Description: `Calls the function NAME and prints the body of the answer. With a token
the call goes through the invoke API (POST /api/v1/functions/NAME/invoke),
which checks the token and never passes it on to the function, so private
functions work too; without one (or with one the server refuses) it goes to
/fn/NAME with no token, as an anonymous client's would. A PATH and QUERY
after the name are passed on: "picloud invoke api/orders?id=3" gives the
function what a call of /fn/api/orders?id=3 would. With -d the body is DATA, or the contents of FILE for
@FILE, or stdin for @-; the method is then POST unless --method says
otherwise. An answer other than 2xx exits with status 1.

With --async the call is queued instead (header X-PiCloud-Async: 1): the
server answers 202 at once and picloud prints the invocation id (with
--json the whole answer); read the outcome and the function's answer later
at GET /api/v1/invocations/ID. Without a token, only a function deployed
with --allow-async takes queued calls (403 async_not_allowed otherwise).`,
		Example: `picloud invoke hello
picloud invoke hello -d '{"name":"Ada"}' --header content-type:application/json
picloud invoke api/items --method DELETE
picloud invoke report -d '{"month":"2026-11"}' --async`,
		Run: runInvoke,
	}
}

func runInvoke(ctx context.Context, a *app, c *command, args []string) error {
	fs := newFlags(c)
	data := fs.String("data", "", "request body: `DATA`, @FILE or @- for stdin")
	alias(fs, "d", "data")
	method := fs.String("method", "", "HTTP `METHOD` (default GET, or POST with -d)")
	alias(fs, "X", "method")
	var headers []string
	fs.Var(listValue{&headers}, "header", "request header `K:V` (repeatable)")
	alias(fs, "H", "header")
	include := fs.Bool("include", false, "print the status line and headers of the answer before the body")
	alias(fs, "i", "include")
	async := fs.Bool("async", false, "queue the call and print its invocation id instead of waiting for the answer")
	asJSON := fs.Bool("json", false, "with --async, print the whole 202 answer as JSON")
	pos, err := a.parse(c, fs, args, "NAME")
	if err != nil {
		return err
	}
	if *asJSON && !*async {
		return usagef(c, "--json goes with --async (a synchronous call prints the function's own answer)")
	}
	req := InvokeRequest{Method: strings.ToUpper(*method), Header: http.Header{}, Async: *async}
	req.Name, req.Path = splitTarget(pos[0])
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return usagef(c, "header %q: write it as NAME:VALUE", h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if flagsSet(fs)["data"] {
		req.Body, err = a.readData(*data)
		if err != nil {
			return err
		}
	}
	res, err := a.client().Invoke(ctx, req)
	if err != nil {
		return fmt.Errorf("invoke %s: %w", req.Name, err)
	}
	if *include {
		fmt.Fprintf(a.env.Stdout, "HTTP %d %s\n", res.Status, http.StatusText(res.Status))
		for _, k := range sortedKeys(res.Header) {
			for _, v := range res.Header[k] {
				fmt.Fprintf(a.env.Stdout, "%s: %s\n", clean(k), clean(v))
			}
		}
		fmt.Fprintln(a.env.Stdout)
	}
	if *async && res.Status == http.StatusAccepted {
		return a.printAccepted(res, *asJSON)
	}
	if res.Status >= 200 && res.Status <= 299 {
		a.writeBody(res.Body)
		return nil
	}
	// An error of the platform (the function failed, timed out, does not
	// exist) is JSON with error and code; say it on stderr.
	var eb api.ErrorBody
	if json.Unmarshal(res.Body, &eb) == nil && eb.Error != "" && eb.Code != "" {
		if *include {
			a.writeBody(res.Body)
		}
		msg := fmt.Sprintf("invoke %s: HTTP %d: %s", clean(req.Name), res.Status, clean(eb.Error))
		if id := res.Header.Get(api.HeaderInvocationID); id != "" {
			msg += fmt.Sprintf(" (invocation %s: picloud logs %s)", clean(id), clean(req.Name))
		}
		switch res.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			msg += " — the function is private: set PICLOUD_TOKEN to a token with the invoke scope"
		}
		fmt.Fprintf(a.env.Stderr, "picloud: %s\n", msg)
		return errSilent
	}
	a.writeBody(res.Body)
	fmt.Fprintf(a.env.Stderr, "picloud: invoke %s: the function answered HTTP %d %s\n", clean(req.Name), res.Status, http.StatusText(res.Status))
	return errSilent
}

// printAccepted prints the answer of a queued call: its invocation id, or
// with asJSON the whole body.
func (a *app) printAccepted(res InvokeResult, asJSON bool) error {
	if asJSON {
		a.writeBody(res.Body)
		return nil
	}
	var acc api.AsyncAccepted
	if err := json.Unmarshal(res.Body, &acc); err != nil || acc.InvocationID == "" {
		return fmt.Errorf("invoke: the server answered 202 without an invocation id: %q", truncateBytes(res.Body, 200))
	}
	fmt.Fprintln(a.env.Stdout, clean(acc.InvocationID))
	return nil
}

// truncateBytes returns at most n bytes of b as a string.
func truncateBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// splitTarget splits "api/orders?id=3" into the function name and the rest
// of the URL ("/orders?id=3").
func splitTarget(s string) (name, rest string) {
	if i := strings.IndexAny(s, "/?"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// readData reads -d's value: literal DATA, @FILE, or @- for stdin.
func (a *app) readData(v string) ([]byte, error) {
	f, ok := strings.CutPrefix(v, "@")
	if !ok {
		return []byte(v), nil
	}
	if f == "-" {
		b, err := io.ReadAll(a.env.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read the body from stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("read the body: %w", err)
	}
	return b, nil
}

// writeBody writes an answer's body to stdout: as it is into a pipe or a
// file (it is data, like curl's output); on a terminal with control
// characters other than newline and tab escaped, ending with a newline so
// the prompt does not stick to it.
func (a *app) writeBody(b []byte) {
	if !isTerminal(a.env.Stdout) {
		_, _ = a.env.Stdout.Write(b)
		return
	}
	_, _ = io.WriteString(a.env.Stdout, sanitize(string(b), "\n\t"))
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\n")) {
		fmt.Fprintln(a.env.Stdout)
	}
}

// isTerminal reports whether the stdin, stdout or stderr v is a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
