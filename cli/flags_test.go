package cli

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "64MiB", want: 64 << 20},
		{in: "128M", want: 128 << 20},
		{in: "128m", want: 128 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "1G", want: 1 << 30},
		{in: "1.5GiB", want: 3 << 29},
		{in: "512KiB", want: 512 << 10},
		{in: "512k", want: 512 << 10},
		{in: "100B", want: 100},
		{in: "100MB", want: 100 * 1000 * 1000},
		{in: " 64MiB ", want: 64 << 20},
		{in: "0", want: 0},
		{in: "64", wantErr: "no unit: write 64MiB"},
		{in: "", wantErr: "use a number and a unit"},
		{in: "MiB", wantErr: "use a number and a unit"},
		{in: "-64MiB", wantErr: "use a number and a unit"},
		{in: "64XB", wantErr: "unknown unit"},
		{in: "1.2.3MiB", wantErr: "bad number"},
		{in: "99999999999999GiB", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]string{
		64 << 20: "64MiB", 1 << 30: "1GiB", 3 << 29: "1.5GiB", 100: "100B", 512 << 10: "512KiB",
	} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "10s", want: 10 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "1m30s", want: 90 * time.Second},
		{in: "2h", want: 2 * time.Hour},
		{in: "0", want: 0},
		{in: "10", wantErr: "no unit: write 10s"},
		{in: "1.5", wantErr: "no unit"},
		{in: "ten seconds", wantErr: "use a number and a unit"},
		{in: "-5s", wantErr: "must not be negative"},
		{in: "", wantErr: "use a number and a unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %s, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseInterleaved(t *testing.T) {
	t.Parallel()
	type result struct {
		name    string
		private bool
		memory  int64
		headers []string
		pos     []string
	}
	tests := []struct {
		name    string
		args    []string
		want    result
		wantErr string
	}{
		{name: "flags after the file", args: []string{"hello.lua", "--name", "x"},
			want: result{name: "x", pos: []string{"hello.lua"}}},
		{name: "flags before the file", args: []string{"--name=x", "--private", "hello.lua"},
			want: result{name: "x", private: true, pos: []string{"hello.lua"}}},
		{name: "flags around two positionals", args: []string{"-name", "x", "a", "--memory", "128M", "b", "--private"},
			want: result{name: "x", private: true, memory: 128 << 20, pos: []string{"a", "b"}}},
		{name: "double dash ends the flags", args: []string{"a", "--", "--name", "-x"},
			want: result{pos: []string{"a", "--name", "-x"}}},
		{name: "single dash is positional", args: []string{"-", "--name", "x"},
			want: result{name: "x", pos: []string{"-"}}},
		{name: "repeated flag collects", args: []string{"-H", "a:1", "f", "--header", "b:2"},
			want: result{headers: []string{"a:1", "b:2"}, pos: []string{"f"}}},
		{name: "no arguments", args: nil, want: result{}},
		{name: "unknown flag", args: []string{"a", "--nope"}, wantErr: "flag provided but not defined: -nope"},
		{name: "missing value", args: []string{"a", "--name"}, wantErr: "flag needs an argument: -name"},
		{name: "bad size", args: []string{"--memory", "64"}, wantErr: "no unit: write 64MiB"},
		{name: "bool with value", args: []string{"--private=maybe"}, wantErr: "invalid boolean value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(nilWriter{})
			var got result
			fs.StringVar(&got.name, "name", "", "")
			fs.BoolVar(&got.private, "private", false, "")
			fs.Var(sizeValue{&got.memory}, "memory", "")
			fs.Var(listValue{&got.headers}, "header", "")
			alias(fs, "H", "header")
			pos, err := parseInterleaved(fs, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.pos = pos
			if got.name != tt.want.name || got.private != tt.want.private || got.memory != tt.want.memory ||
				!slices.Equal(got.headers, tt.want.headers) || !slices.Equal(got.pos, tt.want.pos) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

type nilWriter struct{}

func (nilWriter) Write(p []byte) (int, error) { return len(p), nil }

func TestSplitTarget(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, name, rest string }{
		{"hello", "hello", ""},
		{"api/orders", "api", "/orders"},
		{"api/orders?id=3", "api", "/orders?id=3"},
		{"api?x=1", "api", "?x=1"},
	}
	for _, tt := range tests {
		name, rest := splitTarget(tt.in)
		if name != tt.name || rest != tt.rest {
			t.Errorf("splitTarget(%q) = %q, %q; want %q, %q", tt.in, name, rest, tt.name, tt.rest)
		}
	}
}

func TestFlagsSet_CountsAliasesUnderTheLongName(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-d", "x"}, {"--data", "x"}, {"--data="}} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.String("data", "", "")
		alias(fs, "d", "data")
		fs.Bool("other", false, "")
		if _, err := parseInterleaved(fs, args); err != nil {
			t.Fatal(err)
		}
		set := flagsSet(fs)
		if !set["data"] || set["d"] || set["other"] {
			t.Errorf("%v: flagsSet = %v, want only data", args, set)
		}
	}
}
