package supervisor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfig_WorkerCommand(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)

	c := Config{WorkerPath: "/opt/w", WorkerArgs: []string{"-x"}}
	path, args, err := c.workerCommand()
	require.NoError(t, err)
	require.Equal(t, "/opt/w", path)
	require.Equal(t, []string{"-x"}, args)

	companion := filepath.Join(filepath.Dir(self), DefaultWorkerBinary)
	if _, err := os.Stat(companion); err == nil {
		t.Skipf("%s exists next to the test binary", companion)
	}
	path, args, err = (&Config{}).workerCommand()
	require.NoError(t, err)
	require.Equal(t, self, path, "no companion binary: the executable itself")
	require.Equal(t, []string{"worker"}, args)
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		32 << 20:          "32 MiB",
		64 << 20:          "64 MiB",
		2 << 30:           "2 GiB",
		3 << 29:           "1.5 GiB",
		(64 << 20) + 1000: "64.0 MiB",
		1000:              "1000 bytes",
	} {
		require.Equal(t, want, formatBytes(n), "%d", n)
	}
}
