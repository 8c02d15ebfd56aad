package events

import (
	"os"
	"testing"

	"github.com/picloud/picloud/internal/e2etest"
)

// TestMain fails the run when a test leaves a goroutine behind, and
// removes the binaries the end-to-end tests built.
func TestMain(m *testing.M) {
	os.Exit(e2etest.Main(m))
}
