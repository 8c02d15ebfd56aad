package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/picloud/picloud/api"
)

// newFlags returns an empty FlagSet for c that reports its errors to parse
// instead of printing them.
func newFlags(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// aliasPrefix starts the usage of a flag that is another name for a flag
// already defined; help shows both names on one line.
const aliasPrefix = "same as --"

// alias defines short as another name for the already defined flag long.
func alias(fs *flag.FlagSet, short, long string) {
	fs.Var(fs.Lookup(long).Value, short, aliasPrefix+long)
}

// parse parses args for c, allowing flags before, between and after the
// positional arguments ("deploy hello.lua --name x"); "--" ends the flags.
// want names the positional arguments: "NAME" is required, "[NAME]" is
// optional, a trailing "..." takes any number. On -h/--help it prints c's
// help to stdout and returns errHelpShown.
func (a *app) parse(c *command, fs *flag.FlagSet, args []string, want ...string) ([]string, error) {
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		a.printHelp(a.env.Stdout, c, fs)
		return nil, errHelpShown
	}
	if err != nil {
		return nil, &usageError{cmd: c, msg: err.Error()}
	}
	required, variadic := 0, false
	for _, w := range want {
		if strings.HasSuffix(w, "...") {
			variadic = true
			continue
		}
		if !strings.HasPrefix(w, "[") {
			required++
		}
	}
	if len(pos) < required {
		return nil, usagef(c, "missing %s", want[len(pos)])
	}
	if !variadic && len(pos) > len(want) {
		return nil, usagef(c, "unexpected argument %q", pos[len(want)])
	}
	return pos, nil
}

// parseInterleaved runs fs.Parse repeatedly, collecting the positional
// arguments that the standard flag package would stop at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printHelp writes c's usage line, description, flags and example.
func (a *app) printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: picloud %s %s\n\n%s\n", c.Name, c.Args, c.Description)
	aliases := map[string][]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if long, ok := strings.CutPrefix(f.Usage, aliasPrefix); ok {
			aliases[long] = append(aliases[long], f.Name)
		}
	})
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, aliasPrefix) {
			return
		}
		names := ""
		for _, s := range aliases[f.Name] {
			names += "-" + s + ", "
		}
		names += "--" + f.Name
		typ, usage := flag.UnquoteUsage(f)
		if typ == "value" {
			switch f.Value.(type) {
			case sizeValue:
				typ = "SIZE"
			case durationValue:
				typ = "DURATION"
			default:
				typ = "VALUE"
			}
		}
		if typ != "" {
			names += " " + typ
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", names, usage)
	})
	tw.Flush()
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", b.String())
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", indent(c.Example))
	}
}

// ParseSize parses a memory size such as 64MiB, 128M, 1GiB, 1.5G or 512KiB
// into bytes, the way the API reads it (api.ParseByteSize: K, M and G alone
// and KiB, MiB, GiB are binary, KB, MB and GB decimal; case-insensitive).
// A bare number other than 0 is refused, since "64" could mean bytes or
// MiB.
func ParseSize(s string) (int64, error) {
	n, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	return n, nil
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return 0, fmt.Errorf("no unit: write %sMiB (or B, KiB, GiB)", t)
	}
	if t == "" || !(t[0] >= '0' && t[0] <= '9' || t[0] == '.') {
		return 0, errors.New("use a number and a unit, like 64MiB, 128M or 1GiB")
	}
	n, err := api.ParseByteSize(t)
	if err != nil {
		// api's message repeats the value; keep only its reason.
		msg := err.Error()
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		} else if strings.HasSuffix(msg, "is too large") {
			msg = "too large"
		}
		return 0, errors.New(msg)
	}
	return int64(n), nil
}

// FormatSize writes n bytes in the largest binary unit that keeps it short:
// 64MiB, 1.5GiB, 512KiB, 100B.
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n), 0
	for u < len(units)-1 && math.Abs(v) >= 1024 {
		v /= 1024
		u++
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + units[u]
}

// ParseDuration parses a duration like 10s, 1m30s or 250ms. A bare number
// other than 0 is refused with a hint, and so is a negative duration.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	return d, nil
}

func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(t, 64); err == nil && t != "0" {
		return 0, fmt.Errorf("no unit: write %ss (or ms, m, h)", t)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, errors.New("use a number and a unit, like 10s, 1m30s or 250ms")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

// The flag values of this file.
var (
	_ flag.Value = sizeValue{}
	_ flag.Value = durationValue{}
	_ flag.Value = listValue{}
)

// sizeValue is a flag.Value holding a size in bytes.
type sizeValue struct{ n *int64 }

func (v sizeValue) String() string {
	if v.n == nil || *v.n == 0 {
		return ""
	}
	return FormatSize(*v.n)
}

func (v sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*v.n = n
	return nil
}

// durationValue is a flag.Value holding a duration parsed by ParseDuration.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// listValue is a flag.Value collecting repeated values (--header a:b
// --header c:d).
type listValue struct{ list *[]string }

func (v listValue) String() string {
	if v.list == nil {
		return ""
	}
	return strings.Join(*v.list, ", ")
}

func (v listValue) Set(s string) error {
	*v.list = append(*v.list, s)
	return nil
}

// flagsSet returns the names of the flags given on the command line; a
// flag given by its alias counts under its long name.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if long, ok := strings.CutPrefix(f.Usage, aliasPrefix); ok {
			set[long] = true
			return
		}
		set[f.Name] = true
	})
	return set
}
