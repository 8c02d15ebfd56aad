package outbound

import (
	"net/netip"
	"testing"
)

func TestClassify_SpecialRangesAndPublic(t *testing.T) {
	tests := []struct {
		ip   string
		want Kind
	}{
		{"8.8.8.8", KindPublic},
		{"1.1.1.1", KindPublic},
		{"93.184.216.34", KindPublic},
		{"2606:4700:4700::1111", KindPublic},
		{"127.0.0.1", KindLoopback},
		{"127.255.255.254", KindLoopback},
		{"::1", KindLoopback},
		{"::ffff:127.0.0.1", KindLoopback}, // IPv4-mapped
		{"10.0.0.1", KindPrivate},
		{"172.16.0.1", KindPrivate},
		{"172.31.255.255", KindPrivate},
		{"172.32.0.1", KindPublic},
		{"192.168.1.20", KindPrivate},
		{"::ffff:192.168.1.20", KindPrivate},
		{"fd00::1", KindPrivate},
		{"fc00::1", KindPrivate},
		{"fec0::1", KindPrivate},
		{"169.254.1.1", KindLinkLocal},
		{"fe80::1", KindLinkLocal},
		{"169.254.169.254", KindMetadata},
		{"::ffff:169.254.169.254", KindMetadata},
		{"fd00:ec2::254", KindMetadata},
		{"100.64.0.1", KindCGNAT},
		{"100.127.255.255", KindCGNAT},
		{"100.128.0.1", KindPublic},
		{"224.0.0.1", KindMulticast},
		{"239.255.255.250", KindMulticast},
		{"ff02::1", KindMulticast},
		{"0.0.0.0", KindUnspecified},
		{"0.1.2.3", KindUnspecified},
		{"::", KindUnspecified},
		{"255.255.255.255", KindBroadcast},
		{"240.0.0.1", KindReserved},
		{"192.0.2.1", KindReserved},
		{"198.18.0.1", KindReserved},
		{"192.0.0.8", KindReserved},
		{"64:ff9b::a00:1", KindReserved}, // NAT64 of 10.0.0.1
		{"2002:a00:1::", KindReserved},   // 6to4 of 10.0.0.1
		{"2001::1", KindReserved},        // Teredo
		{"2001:db8::1", KindReserved},
		{"::a00:1", KindReserved}, // IPv4-compatible
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := Classify(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("Classify(%s) = %s, want %s", tt.ip, got, tt.want)
			}
		})
	}
}

func TestClassify_InvalidIsUnspecified(t *testing.T) {
	if got := Classify(netip.Addr{}); got != KindUnspecified {
		t.Fatalf("Classify(invalid) = %s", got)
	}
}
