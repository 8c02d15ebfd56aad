package store

import (
	"testing"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"
)

// TestRiverSchema_IsThePinnedVersion fails when a River upgrade brings a
// new schema version: river.go writes River's tables and channel by hand,
// so its queries must be checked against the new schema and
// riverSchemaVersion moved with them.
func TestRiverSchema_IsThePinnedVersion(t *testing.T) {
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	require.NoError(t, err)
	all := m.AllVersions()
	require.NotEmpty(t, all)
	require.Equal(t, riverSchemaVersion, all[len(all)-1].Version,
		"River's schema moved: check river.go's queries against it, then update riverSchemaVersion")
}
