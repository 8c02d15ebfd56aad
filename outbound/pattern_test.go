package outbound

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePattern_Forms(t *testing.T) {
	tests := []struct {
		in, host string
		port     int
		ip       string // an address the pattern must contain
		wantErr  string
	}{
		{in: "192.168.1.20:8123", ip: "192.168.1.20", port: 8123},
		{in: "192.168.1.20", ip: "192.168.1.20"},
		{in: "10.0.0.0/8", ip: "10.9.8.7"},
		{in: "[fd00::1]:80", ip: "fd00::1", port: 80},
		{in: "fd00::/8", ip: "fd12::1"},
		{in: "fd00::1", ip: "fd00::1"},
		{in: "*.lan", host: ".lan"},
		{in: "*.Lan:443", host: ".lan", port: 443},
		{in: "nas.lan", host: "nas.lan"},
		{in: "localhost:8080", host: "localhost", port: 8080},
		{in: "", wantErr: "empty"},
		{in: "nas.lan:0", wantErr: "port"},
		{in: "nas.lan:99999", wantErr: "port"},
		{in: "10.0.0.0/33", wantErr: "10.0.0.0/33"},
		{in: "*.", wantErr: "not a host name"},
		{in: "http://x", wantErr: "is a URL"},
		{in: "a b", wantErr: "is not a host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePattern(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePattern(%q) error = %v, want one with %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePattern(%q): %v", tt.in, err)
			}
			if p.port != tt.port || p.host != tt.host {
				t.Errorf("ParsePattern(%q) = host %q port %d, want %q %d", tt.in, p.host, p.port, tt.host, tt.port)
			}
			if tt.ip != "" && !p.prefix.Contains(netip.MustParseAddr(tt.ip)) {
				t.Errorf("ParsePattern(%q) prefix %s does not contain %s", tt.in, p.prefix, tt.ip)
			}
		})
	}
}

func TestPattern_Matches(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		pattern string
		host    string
		ip      string
		port    int
		want    bool
	}{
		{"192.168.1.20:8123", "192.168.1.20", "192.168.1.20", 8123, true},
		{"192.168.1.20:8123", "192.168.1.20", "192.168.1.20", 80, false},
		{"192.168.1.20", "ha.lan", "192.168.1.20", 80, true}, // an IP grant covers a name resolving to it
		{"*.lan", "nas.lan", "192.168.1.5", 80, true},
		{"*.lan", "a.b.lan", "192.168.1.5", 80, true},
		{"*.lan", "lan", "192.168.1.5", 80, false},
		{"*.lan", "evil-lan", "192.168.1.5", 80, false},
		{"*.lan:443", "nas.lan", "192.168.1.5", 80, false},
		{"nas.lan", "nas.lan", "192.168.1.5", 8080, true},
		{"nas.lan", "x.nas.lan", "192.168.1.5", 8080, false},
		{"10.0.0.0/8", "10.1.2.3", "10.1.2.3", 1, true},
		{"10.0.0.0/8", "11.1.2.3", "11.1.2.3", 1, false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.matches(tt.host, ip(tt.ip), tt.port); got != tt.want {
			t.Errorf("%q matches(%s, %s, %d) = %v, want %v", tt.pattern, tt.host, tt.ip, tt.port, got, tt.want)
		}
	}
}

func TestParsePatterns_CommaListsAndBound(t *testing.T) {
	ps, err := ParsePatterns([]string{"192.168.1.20:8123,*.lan", " ", "10.0.0.0/8"})
	if err != nil || len(ps) != 3 {
		t.Fatalf("ParsePatterns = %v, %v", ps, err)
	}
	many := strings.Repeat("a.lan,", MaxPatterns+1)
	if _, err := ParsePatterns([]string{many}); err == nil {
		t.Fatal("no error over MaxPatterns")
	}
}

func TestPolicy_NodeDenyWinsAndNodeAllowRestricts(t *testing.T) {
	mustParse := func(s ...string) []Pattern {
		ps, err := ParsePatterns(s)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	pub := netip.MustParseAddr("93.184.216.34")
	lan := netip.MustParseAddr("192.168.1.20")
	tests := []struct {
		name   string
		pol    policy
		host   string
		ip     netip.Addr
		reason string // "" allowed
	}{
		{"public by default", policy{}, "example.com", pub, ""},
		{"private refused", policy{}, "192.168.1.20", lan, "kind"},
		{"private granted", policy{grants: mustParse("192.168.1.20:8123")}, "192.168.1.20", lan, ""},
		{"deny wins over a grant", policy{grants: mustParse("192.168.1.20"), nodeDeny: mustParse("192.168.1.0/24")}, "192.168.1.20", lan, "node-deny"},
		{"deny a public name", policy{nodeDeny: mustParse("*.example.com")}, "api.example.com", pub, "node-deny"},
		{"allow list restricts public", policy{nodeAllow: mustParse("api.example.com")}, "other.example.com", pub, "node-allow"},
		{"allow list admits public", policy{nodeAllow: mustParse("api.example.com")}, "api.example.com", pub, ""},
		{"allow list does not grant private", policy{nodeAllow: mustParse("192.168.1.0/24")}, "192.168.1.20", lan, "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pol.check(tt.host, tt.ip, 8123)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			re, ok := err.(*RefusedError)
			if !ok || re.Reason != tt.reason {
				t.Fatalf("check = %v, want a refusal for %s", err, tt.reason)
			}
		})
	}
}

func TestRefusedError_SaysWhyAndWhatToGrant(t *testing.T) {
	e := &RefusedError{Host: "10.0.0.1", IP: netip.MustParseAddr("10.0.0.1"), Port: 80, Kind: KindPrivate, Reason: "kind"}
	if got, want := e.Error(), "10.0.0.1 is a private address; allow it with --allow-net 10.0.0.1:80"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e = &RefusedError{Host: "localhost", IP: netip.MustParseAddr("127.0.0.1"), Port: 8080, Kind: KindLoopback, Reason: "kind"}
	if got, want := e.Error(), "localhost resolves to 127.0.0.1, a loopback address; allow it with --allow-net localhost:8080"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
