package api

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestParseByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ByteSize
		bad  bool
	}{
		{in: "64MiB", want: 64 << 20},
		{in: "64mib", want: 64 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "512M", want: 512 << 20},
		{in: "2G", want: 2 << 30},
		{in: "100MB", want: 100_000_000},
		{in: "1.5GiB", want: 3 << 29},
		{in: "16777216", want: 16 << 20},
		{in: " 32 MiB ", want: 32 << 20},
		{in: "", bad: true},
		{in: "MiB", bad: true},
		{in: "64XB", bad: true},
		{in: "1.2.3M", bad: true},
		{in: "99999999999999999999GiB", bad: true},
	} {
		got, err := ParseByteSize(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseByteSize(%q) = %d, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestByteSize_JSONRoundTrip(t *testing.T) {
	for _, n := range []ByteSize{64 << 20, 1 << 30, 1500, 3 << 10} {
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		var back ByteSize
		if err := json.Unmarshal(b, &back); err != nil || back != n {
			t.Errorf("%d → %s → %d, %v", n, b, back, err)
		}
	}
	var n ByteSize
	if err := json.Unmarshal([]byte(`67108864`), &n); err != nil || n != 64<<20 {
		t.Errorf("number of bytes: %d, %v", n, err)
	}
	var ve *ValueError
	if err := json.Unmarshal([]byte(`1.5`), &n); !errors.As(err, &ve) {
		t.Errorf("fractional bytes: %v, want a ValueError", err)
	}
	if err := json.Unmarshal([]byte(`true`), &n); !errors.As(err, &ve) {
		t.Errorf("bool: %v, want a ValueError", err)
	}
}

func TestDuration_JSON(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"1m30s"`), &d); err != nil || time.Duration(d) != 90*time.Second {
		t.Errorf("string: %v, %v", time.Duration(d), err)
	}
	if err := json.Unmarshal([]byte(`2.5`), &d); err != nil || time.Duration(d) != 2500*time.Millisecond {
		t.Errorf("seconds: %v, %v", time.Duration(d), err)
	}
	var ve *ValueError
	if err := json.Unmarshal([]byte(`"soon"`), &d); !errors.As(err, &ve) {
		t.Errorf("bad duration: %v, want a ValueError", err)
	}
	b, _ := json.Marshal(Duration(10 * time.Second))
	if string(b) != `"10s"` {
		t.Errorf("marshal = %s", b)
	}
}

func TestValidName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"hello", true},
		{"a", true},
		{"my-func-2", true},
		{"a23456789012345678901234567890123456789012345678901234567890123", true},
		{"a234567890123456789012345678901234567890123456789012345678901234", false},
		{"", false},
		{"Hello", false},
		{"1abc", false},
		{"-abc", false},
		{"a_b", false},
		{"a b", false},
		{"ab\xff", false},
		{"héllo", false},
	} {
		err := validName("function name", c.name)
		if (err == nil) != c.ok {
			t.Errorf("validName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestPosition(t *testing.T) {
	b := []byte("{\n  \"a\": 1,\n  x\n}")
	for _, c := range []struct{ off, line, col int }{
		{0, 1, 1}, {1, 1, 2}, {2, 2, 1}, {14, 3, 3}, {1000, 4, 2},
	} {
		l, col := position(b, c.off)
		if l != c.line || col != c.col {
			t.Errorf("position(%d) = %d:%d, want %d:%d", c.off, l, col, c.line, c.col)
		}
	}
}

func TestNewTokenSecret_FormatAndHash(t *testing.T) {
	s1, h1, err := NewTokenSecret()
	if err != nil {
		t.Fatal(err)
	}
	s2, _, _ := NewTokenSecret()
	if len(s1) != 3+52 || s1[:3] != "pc_" || s1 == s2 {
		t.Errorf("secrets %q, %q", s1, s2)
	}
	if h1 != HashToken(s1) {
		t.Error("hash differs from HashToken")
	}
}
