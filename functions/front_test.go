package functions

import (
	"strings"
	"testing"
	"time"
)

func TestNormalizeOrigin_AcceptsOriginsAndRejectsTheRest(t *testing.T) {
	cases := []struct {
		in, want, errHas string
	}{
		{"https://app.example.com", "https://app.example.com", ""},
		{"HTTPS://App.Example.COM:8443", "https://app.example.com:8443", ""},
		{"http://localhost:3000", "http://localhost:3000", ""},
		{"http://[::1]:8080", "http://[::1]:8080", ""},
		{"*", "*", ""},
		{"https://app.example.com/", "", "trailing /"},
		{"https://app.example.com/path", "", "no path"},
		{"https://app.example.com?q=1", "", "no path, query"},
		{"app.example.com", "", "no scheme or host"},
		{"https://user:pw@app.example.com", "", "no user name"},
		{"https://*.example.com", "", "wildcards"},
		{"https://app.example.com:99999", "", "port"},
		{"https://app.example.com:", "", "port is empty"},
		{"", "", "no scheme or host"},
	}
	for _, c := range cases {
		got, err := NormalizeOrigin(c.in)
		if c.errHas == "" {
			if err != nil || got != c.want {
				t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("NormalizeOrigin(%q) error %v; want one saying %q", c.in, err, c.errHas)
		}
	}
}

func TestNormalizeOrigins_StarMustComeAlone(t *testing.T) {
	if _, err := NormalizeOrigins([]string{"*", "https://a.example"}); err == nil {
		t.Fatal("* with another origin was accepted")
	}
	got, err := NormalizeOrigins([]string{"https://b.example", "https://A.example", "https://b.example"})
	if err != nil || strings.Join(got, " ") != "https://a.example https://b.example" {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestParseRate(t *testing.T) {
	cases := []struct {
		in   string
		want RateLimit
		bad  bool
	}{
		{"20/s", RateLimit{Count: 20, Per: time.Second}, false},
		{"100/m", RateLimit{Count: 100, Per: time.Minute}, false},
		{"5/hour", RateLimit{Count: 5, Per: time.Hour}, false},
		{"off", RateLimit{}, false},
		{"", RateLimit{}, false},
		{"20", RateLimit{}, true},
		{"20/d", RateLimit{}, true},
		{"-1/s", RateLimit{}, true},
		{"1.5/s", RateLimit{}, true},
	}
	for _, c := range cases {
		got, err := ParseRate(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("ParseRate(%q) = %+v, %v", c.in, got, err)
		}
	}
	if s := (RateLimit{Count: 100, Per: time.Minute, Burst: 1}).String(); s != "100/m" {
		t.Errorf("String = %q", s)
	}
}

func TestValidateEnv_KeysAndSize(t *testing.T) {
	if err := ValidateEnv(map[string]string{"API_URL": "https://x", "_x1": ""}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "1X", "A-B", "A B", "é", strings.Repeat("A", 65)} {
		if err := ValidateEnv(map[string]string{k: "v"}); err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	if err := ValidateEnv(map[string]string{"BIG": strings.Repeat("x", MaxEnvBytes)}); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("oversized env: %v", err)
	}
}
