package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ByteSize is a number of bytes. In JSON it is written as a string like
// "64MiB" and read from such a string or from a plain number of bytes.
type ByteSize int64

// Size units accepted by ParseByteSize. K, M and G alone are binary (as
// docker's --memory); KB, MB and GB are decimal.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"k":   1 << 10,
	"kib": 1 << 10,
	"kb":  1000,
	"m":   1 << 20,
	"mib": 1 << 20,
	"mb":  1000 * 1000,
	"g":   1 << 30,
	"gib": 1 << 30,
	"gb":  1000 * 1000 * 1000,
}

// ParseByteSize reads a size like "64MiB", "1GiB", "512M", "100000" (bytes).
// Units are case-insensitive.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("size %q: want a number with an optional unit, like 64MiB", s)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB, KB, MB, GB)", s, t[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: bad number", s)
	}
	v := f * float64(mult)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(math.Round(v)), nil
}

// String writes the size with the largest binary unit that divides it:
// "64MiB", "1GiB", "1500B".
func (b ByteSize) String() string {
	n := int64(b)
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}

// MarshalJSON writes the size as a string like "64MiB".
func (b ByteSize) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

// UnmarshalJSON reads "64MiB" or a number of bytes.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return &ValueError{Message: err.Error()}
		}
		v, err := ParseByteSize(s)
		if err != nil {
			return &ValueError{Message: err.Error()}
		}
		*b = v
		return nil
	}
	var n float64
	if err := json.Unmarshal(data, &n); err != nil || n != math.Trunc(n) || n > math.MaxInt64/2 {
		return &ValueError{Message: fmt.Sprintf("size %s: want a string like \"64MiB\" or a whole number of bytes", data)}
	}
	*b = ByteSize(n)
	return nil
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("10s", "1m30s"). Reading also accepts a number of seconds.
type Duration time.Duration

// String is time.Duration's.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "10s" or a number of seconds.
func (d *Duration) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return &ValueError{Message: err.Error()}
		}
		v, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return &ValueError{Message: fmt.Sprintf("duration %q: want a duration like \"10s\" or \"500ms\"", s)}
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(data, &secs); err != nil || math.Abs(secs) > float64(math.MaxInt64/int64(time.Second)) {
		return &ValueError{Message: fmt.Sprintf("duration %s: want a string like \"10s\" or a number of seconds", data)}
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// ValueError is a JSON value that parsed but makes no sense (a size with an
// unknown unit, a bad duration). The API answers it with 422.
type ValueError struct {
	Field   string
	Message string
}

func (e *ValueError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}
