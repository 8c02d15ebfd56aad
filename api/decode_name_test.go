package api

import (
	"strings"
	"testing"
)

func TestIsName_AgreesWithNameRE(t *testing.T) {
	for _, s := range []string{
		"", "a", "hello", "hello-world", "a1", "a-", "1a", "-a", "A", "aB", "a_b", "a.b", "a b", "é", "aé",
		"a" + strings.Repeat("b", 62), "a" + strings.Repeat("b", 63), "z9-", "hello\n", "hello/x",
	} {
		if got, want := isName(s), nameRE.MatchString(s); got != want {
			t.Errorf("isName(%q) = %v, nameRE says %v", s, got, want)
		}
	}
}
