package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/picloud/picloud/api"
)

func deployCommand() *command {
	return &command{
		Name:    "deploy",
		Args:    "FILE.lua [flags]",
		Summary: "deploy a Lua script as a function, or a new version of it",
		Description: `Uploads FILE.lua (or "-" for stdin, with --name) as a function, byte for
byte (the sha256 'picloud versions --json' shows is sha256sum's). If a
function of that name exists, this deploys a new immutable version and makes
it current; limits not given keep the values of the current version. The
name defaults to the file's base name without .lua. Prints the name, the
version and the URL of the endpoint.

Sizes take a unit (64MiB, 128M, 1GiB; K, M and G are binary), durations
too (10s, 500ms, 1m30s).

Secrets: a version reads with secrets.get only the secrets granted to it
with --secrets (comma-separated or repeated); secrets.get of any other name
fails. Without --secrets a new version keeps the current version's grants
(a new function gets none); --secrets '' grants none. Granting a secret the
current version does not hold needs a token with the secrets (or admin)
scope; a deploy token may keep or narrow the grants.

Outbound HTTP: http.request in Lua reaches public addresses; loopback,
private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local, CGNAT, the
cloud metadata address and other special ranges are refused unless granted
with --allow-net (comma-separated or repeated): HOST (any port), HOST:PORT,
a CIDR block (192.168.1.0/24) or *.SUFFIX (any name ending in .SUFFIX). A
name grant covers whatever the name resolves to. Without --allow-net a new
version keeps the current version's grants (a new function gets none);
--allow-net '' grants none. The node's --outbound-allow/--outbound-deny
lists restrict every function, grants included.

Blobs: a function may use its own bucket (named after the function) with the
blobs module; --blobs BUCKET:r or BUCKET:rw (comma-separated or repeated)
grants others, read-only or read-write. Without --blobs a new version keeps
the current version's grants; --blobs '' grants none.

HTTP front and config (kept with the version; a rollback restores them;
omitted flags keep the current version's values):
  --cors-origin  web pages of these origins may call /fn/NAME: PiCloud
                 answers their preflight OPTIONS (204) without running the
                 function, and adds Access-Control-Allow-Origin to answers;
                 a preflight from another origin gets 403. Headers the
                 function sets itself win. * allows any origin.
  --rate/--burst a token bucket per function on each node (so N data nodes
                 allow up to N times the rate): a call over it gets 429 with
                 Retry-After before any worker runs, and is not recorded.
                 --rate-per-ip keeps one bucket per client address (the
                 peer, or X-Forwarded-For from serve --trusted-proxies).
  --env          KEY=VALUE settings read as env.KEY in Lua (a read-only
                 table); not for secrets: they show in 'picloud versions --json'.`,
		Example: `picloud deploy hello.lua
picloud deploy api.lua --name orders --memory 128MiB --timeout 30s --private
picloud deploy pay.lua --secrets STRIPE_KEY,DB_PASSWORD
picloud deploy ha.lua --allow-net 192.168.1.20:8123,*.lan
picloud deploy thumbs.lua --blobs photos:rw,public:r
picloud deploy api.lua --cors-origin https://app.example.com --rate 20/s --burst 40 --rate-per-ip
picloud deploy api.lua --env API_URL=https://api.example.com --env MODE=live`,
		Run: runDeploy,
	}
}

func runDeploy(ctx context.Context, a *app, c *command, args []string) error {
	fs := newFlags(c)
	var (
		req      api.FunctionRequest
		name     = fs.String("name", "", "function `NAME` (default: the file name without .lua)")
		memory   int64
		cpu      = fs.Float64("cpu", 0, "CPU quota in `CORES`, like 0.5 (default 0.5 on create)")
		timeout  time.Duration
		idle     time.Duration
		conc     = fs.Int("concurrency", 0, "run up to `N` calls at once in one worker (default 4 on create)")
		minWarm  = fs.Int("min-warm", 0, "keep `N` workers running even when idle (default 0)")
		maxWork  = fs.Int("max-workers", 0, "run at most `N` workers for the function (default 2 on create)")
		private  = fs.Bool("private", false, "require a token with the invoke scope to call /fn/NAME (--private=false makes it public)")
		async    = fs.Bool("allow-async", false, "let anyone queue asynchronous calls of this public function with X-PiCloud-Async: 1 (default off: only a token with the invoke scope may; --allow-async=false turns it off)")
		attempts = fs.Int("max-attempts", 0, "try event deliveries `N` times before a dead letter (default 5 on create)")
		asJSON   = fs.Bool("json", false, "print the function as JSON")
		secrets  []string
		allowNet []string
		front    frontFlags
	)
	front.register(fs)
	fs.Var(listValue{&allowNet}, "allow-net", "let http.request reach `DESTS` beyond public addresses: HOST, HOST:PORT, CIDR or *.SUFFIX (comma-separated or repeated); '' grants none (default: the current version's)")
	var blobGrants []string
	fs.Var(listValue{&blobGrants}, "blobs", "grant the buckets `BUCKET:r|rw` (comma-separated or repeated) besides the function's own; '' grants none (default: the current version's)")
	fs.Var(listValue{&secrets}, "secrets", "grant the secrets `NAMES` (comma-separated or repeated) to this version; '' grants none (default: the current version's)")
	fs.Var(sizeValue{&memory}, "memory", "memory maximum of one worker, like 128MiB (default 64MiB on create)")
	fs.Var(durationValue{&timeout}, "timeout", "time limit of one call, like 30s (default 10s on create)")
	fs.Var(durationValue{&idle}, "idle-timeout", "stop a worker idle for this long (default 60s on create)")
	pos, err := a.parse(c, fs, args, "FILE.lua")
	if err != nil {
		return err
	}
	file := pos[0]
	set := flagsSet(fs)
	var src []byte
	if file == "-" {
		if *name == "" {
			return usagef(c, "--name is required when the script comes from stdin")
		}
		src, err = io.ReadAll(a.env.Stdin)
	} else {
		src, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(file), ".lua")
	}
	req.SourceBase64 = src // exact bytes: a JSON string would turn non-UTF-8 bytes into U+FFFD
	if set["memory"] {
		b := api.ByteSize(memory)
		req.Memory = &b
	}
	if set["cpu"] {
		req.CPU = cpu
	}
	if set["timeout"] {
		d := api.Duration(timeout)
		req.Timeout = &d
	}
	if set["idle-timeout"] {
		d := api.Duration(idle)
		req.IdleTimeout = &d
	}
	if set["concurrency"] {
		req.Concurrency = conc
	}
	if set["min-warm"] {
		req.MinWarm = minWarm
	}
	if set["max-workers"] {
		req.MaxWorkers = maxWork
	}
	if set["private"] {
		req.Private = private
	}
	if set["max-attempts"] {
		req.MaxAttempts = attempts
	}
	if set["allow-async"] {
		req.AllowAsync = async
	}
	if set["secrets"] {
		grants := []string{}
		for _, s := range secrets {
			for _, n := range strings.Split(s, ",") {
				if n = strings.TrimSpace(n); n != "" {
					grants = append(grants, n)
				}
			}
		}
		req.Secrets = &grants
	}
	if set["allow-net"] {
		dests := []string{}
		for _, s := range allowNet {
			for _, d := range strings.Split(s, ",") {
				if d = strings.TrimSpace(d); d != "" {
					dests = append(dests, d)
				}
			}
		}
		req.AllowNet = &dests
	}
	if set["blobs"] {
		req.Blobs = splitList(blobGrants)
	}
	if err := front.apply(set, &req.FrontRequest); err != nil {
		return usagef(c, "%s", err)
	}

	cl := a.client()
	f, err := cl.UpdateFunction(ctx, *name, req)
	created := false
	if isNotFound(err) {
		req.Name = *name
		f, err = cl.CreateFunction(ctx, req)
		created = true
	}
	if err != nil {
		return deployError(file, *name, err)
	}
	if *asJSON {
		return printJSON(a.env.Stdout, f)
	}
	verb := "deployed"
	if created {
		verb = "created"
	}
	access := "public"
	if f.Private {
		access = "private: callers need a token with the invoke scope"
	}
	fmt.Fprintf(a.env.Stdout, "%s %s version %d\nURL: %s%s (%s)\nsecrets: %s\n", verb, clean(f.Name), f.Version,
		clean(cl.BaseURL), clean(f.URL), access, clean(grantsText(f.Secrets, f.AllSecrets)))
	if len(f.AllowNet) > 0 {
		fmt.Fprintf(a.env.Stdout, "allow-net: %s\n", clean(strings.Join(f.AllowNet, ",")))
	}
	fmt.Fprintf(a.env.Stdout, "%s\n", clean(frontText(f.FrontView)))
	if len(f.Blobs) > 0 {
		fmt.Fprintf(a.env.Stdout, "blobs: its own bucket %s, and %s\n", clean(f.Name), clean(strings.Join(f.Blobs, ", ")))
	}
	return nil
}

// grantsText shows the secrets a version may read.
func grantsText(names []string, all bool) string {
	switch {
	case all:
		return "all (deployed before per-function grants)"
	case len(names) == 0:
		return "none"
	}
	return strings.Join(names, ",")
}

// deployError adds the file and position to a rejected deploy.
func deployError(file, name string, err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("deploy %s: %w", name, err)
	}
	switch {
	case ae.Body.Code == api.CodeSyntaxError && ae.Body.Line > 0:
		return fmt.Errorf("%s:%d:%d: %s", file, ae.Body.Line, ae.Body.Column, clean(ae.Body.Error))
	case ae.Body.Code == api.CodeInvalidName:
		return fmt.Errorf("deploy %s: %w (choose another name with --name)", name, err)
	case frontFlagOf[ae.Body.Field] != "":
		return fmt.Errorf("deploy %s: %s: %s", name, frontFlagOf[ae.Body.Field], clean(ae.Body.Error))
	case ae.Body.Field == "secrets":
		return fmt.Errorf("deploy %s: --secrets: %s", name, clean(ae.Body.Error))
	case ae.Body.Field == "allow_net":
		return fmt.Errorf("deploy %s: --allow-net: %s", name, clean(ae.Body.Error))
	case ae.Body.Code == api.CodeInvalidLimit && ae.Body.Field != "":
		return fmt.Errorf("deploy %s: --%s: %s", name, clean(strings.ReplaceAll(ae.Body.Field, "_", "-")), clean(ae.Body.Error))
	}
	return fmt.Errorf("deploy %s: %w", name, err)
}

func lsCommand() *command {
	return &command{
		Name:        "ls",
		Args:        "[--json]",
		Summary:     "list the functions",
		Description: "Lists every function with its current version, endpoint, limits and the secrets it may read.",
		Example:     "picloud ls\npicloud ls --json | jq -r '.functions[].name'",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			asJSON := fs.Bool("json", false, "print the list as JSON")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			fns, err := a.client().ListFunctions(ctx)
			if err != nil {
				return fmt.Errorf("list functions: %w", err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, api.FunctionList{Functions: nonNil(fns)})
			}
			if len(fns) == 0 {
				fmt.Fprintln(a.env.Stdout, "no functions yet: deploy one with 'picloud deploy FILE.lua'")
				return nil
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tACCESS\tMEMORY\tCPU\tTIMEOUT\tURL\tUPDATED\tSECRETS"+
				"\tFRONT")
			for _, f := range fns {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%g\t%s\t%s\t%s\t%s"+"\t%s\n", clean(f.Name), f.Version, access(f.Private),
					f.Limits.Memory, f.Limits.CPU, f.Limits.Timeout, clean(f.URL), ago(f.UpdatedAt),
					clean(versionGrants(f.Secrets, f.AllSecrets)),
					clean(frontColumn(f.FrontView)))
			}
			return tw.Flush()
		},
	}
}

func access(private bool) string {
	if private {
		return "private"
	}
	return "public"
}

// ago writes t as a short age: "5s ago", "3m ago", "2h ago", or a date.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02")
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func versionsCommand() *command {
	return &command{
		Name:    "versions",
		Args:    "NAME [--json]",
		Summary: "list the versions of a function",
		Description: `Lists every version of the function NAME, newest first; the current one is
marked with *. SHA256 is the sha256 of the deployed file (what sha256sum
prints), its first 12 hex digits; --json shows all 64. SECRETS are the
secrets the version may read with secrets.get ("all" for a version deployed
before per-function grants); a rollback restores them with the version.`,
		Example: "picloud versions hello",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			asJSON := fs.Bool("json", false, "print the versions as JSON")
			pos, err := a.parse(c, fs, args, "NAME")
			if err != nil {
				return err
			}
			vs, err := a.client().Versions(ctx, pos[0])
			if err != nil {
				return fmt.Errorf("list versions of %s: %w", pos[0], err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, api.VersionList{Versions: nonNil(vs)})
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tCURRENT\tCREATED\tBY\tSHA256\tACCESS\tMEMORY\tCPU\tTIMEOUT\tSECRETS"+
				"\tFRONT")
			for _, v := range vs {
				cur := ""
				if v.Current {
					cur = "*"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%g\t%s\t%s"+"\t%s\n", v.Version, cur, ago(v.CreatedAt), clean(dash(v.CreatedBy)),
					clean(short(v.SHA256, 12)), access(v.Private), v.Limits.Memory, v.Limits.CPU, v.Limits.Timeout,
					clean(versionGrants(v.Secrets, v.AllSecrets)),
					clean(frontColumn(v.FrontView)))
			}
			return tw.Flush()
		},
	}
}

// versionGrants is grantsText for a table column: "all", "-" or the names.
func versionGrants(names []string, all bool) string {
	switch {
	case all:
		return "all"
	case len(names) == 0:
		return "-"
	}
	return strings.Join(names, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func rollbackCommand() *command {
	return &command{
		Name:    "rollback",
		Args:    "NAME [--version N] [--json]",
		Summary: "make an earlier version of a function current again",
		Description: `Makes version N of the function NAME current again (by default the version
before the current one). Versions are immutable: nothing is deleted, and
'picloud versions NAME' still lists every one. The version's secret grants
come back with it; if they include a secret the current version does not
hold, the rollback needs a token with the secrets (or admin) scope.`,
		Example: "picloud rollback hello\npicloud rollback hello --version 3",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			version := fs.Int("version", 0, "the `N` to make current (default: the previous version)")
			asJSON := fs.Bool("json", false, "print the function as JSON")
			pos, err := a.parse(c, fs, args, "NAME")
			if err != nil {
				return err
			}
			if *version < 0 {
				return usagef(c, "--version must be a positive version number")
			}
			f, err := a.client().Rollback(ctx, pos[0], *version)
			if err != nil {
				return fmt.Errorf("roll back %s: %w", pos[0], err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, f)
			}
			fmt.Fprintf(a.env.Stdout, "%s: version %d is current (secrets: %s)\n", clean(f.Name), f.Version,
				clean(grantsText(f.Secrets, f.AllSecrets)))
			fmt.Fprintf(a.env.Stdout, "%s\n", clean(frontText(f.FrontView)))
			return nil
		},
	}
}

func rmCommand() *command {
	return &command{
		Name:    "rm",
		Args:    "NAME",
		Summary: "delete a function and all its versions",
		Description: `Deletes the function NAME with every version; /fn/NAME answers 404 from
then on. Its invocation records remain until they are pruned.`,
		Example: "picloud rm hello",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			pos, err := a.parse(c, fs, args, "NAME")
			if err != nil {
				return err
			}
			if err := a.client().DeleteFunction(ctx, pos[0]); err != nil {
				return fmt.Errorf("delete %s: %w", pos[0], err)
			}
			fmt.Fprintf(a.env.Stdout, "deleted %s\n", clean(pos[0]))
			return nil
		},
	}
}
