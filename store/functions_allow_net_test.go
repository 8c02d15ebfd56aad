package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFunctions_AllowNetIsStoredWithTheVersionAndRolledBack(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)

	p := deployParams("ha", "function handle() return 'v1' end")
	p.AllowNet = []string{"*.lan", "192.168.1.20:8123"}
	f, err := s.CreateFunction(ctx, p)
	require.NoError(t, err)
	require.Equal(t, p.AllowNet, f.Current.AllowNet)
	require.Equal(t, p.AllowNet, f.Spec().AllowNet)

	p2 := deployParams("ha", "function handle() return 'v2' end")
	f, err = s.DeployVersion(ctx, p2)
	require.NoError(t, err)
	require.Nil(t, f.Current.AllowNet, "version 2 was deployed without grants")

	vs, err := s.ListVersions(ctx, "ha")
	require.NoError(t, err)
	require.Nil(t, vs[0].AllowNet)
	require.Equal(t, p.AllowNet, vs[1].AllowNet)

	f, err = s.Rollback(ctx, "ha", 1)
	require.NoError(t, err)
	require.Equal(t, p.AllowNet, f.Spec().AllowNet, "a rollback brings version 1's grants back")
	v, err := s.GetVersion(ctx, "ha", 1)
	require.NoError(t, err)
	require.Equal(t, p.AllowNet, v.AllowNet)
}
