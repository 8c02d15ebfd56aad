package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/store"
)

func TestFunctionFront_StoredPerVersionAndRestoredByRollback(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	s := stNew(t)

	v1 := store.Front{
		CORSOrigins: []string{"https://app.example.com"},
		Rate:        functions.RateLimit{Count: 20, Per: time.Second, Burst: 40, PerIP: true},
		Env:         map[string]string{"MODE": "one"},
	}
	p := deployParams("front", "function handle() end")
	p.Front = v1
	f, err := s.CreateFunction(ctx, p)
	require.NoError(t, err)
	require.Equal(t, v1, f.Current.Front)
	spec := f.Spec()
	require.Equal(t, v1.CORSOrigins, spec.CORSOrigins)
	require.Equal(t, v1.Rate, spec.Rate)
	require.Equal(t, v1.Env, spec.Env)

	p.Front = store.Front{Rate: functions.RateLimit{Count: 5, Per: time.Minute, Burst: 5}, Env: map[string]string{"MODE": "two"}}
	f, err = s.DeployVersion(ctx, p)
	require.NoError(t, err)
	require.Equal(t, p.Front, f.Current.Front)

	vs, err := s.ListVersions(ctx, "front")
	require.NoError(t, err)
	require.Equal(t, p.Front, vs[0].Front)
	require.Equal(t, v1, vs[1].Front)

	f, err = s.Rollback(ctx, "front", 1)
	require.NoError(t, err)
	require.Equal(t, v1, f.Current.Front)
	got, err := s.GetVersion(ctx, "front", 2)
	require.NoError(t, err)
	require.Equal(t, "two", got.Front.Env["MODE"])
}
