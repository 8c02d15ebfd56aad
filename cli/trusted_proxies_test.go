package cli

import (
	"fmt"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	got, err := parseTrustedProxies(defaultTrustedProxies + ", 10.1.2.3, 192.168.1.77/24")
	if err != nil || fmt.Sprint(got) != "[127.0.0.0/8 ::1/128 10.1.2.3/32 192.168.1.0/24]" {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := parseTrustedProxies("none"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("none: %v, %v (want an empty, non-nil list)", got, err)
	}
	if _, err := parseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
}
