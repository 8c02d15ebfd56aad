package supervisor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/protocol"
)

// TestStartReport_FirstCallColdThenWarm: the invoke console's cold or
// warm comes from here.
func TestStartReport_FirstCallColdThenWarm(t *testing.T) {
	b := setup(t, nil)
	fn := testFn("report", 1, nil)
	call := func() StartReport {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ctx, rep := WithStartReport(ctx)
		_, err := b.sup.Invoke(ctx, fn, &protocol.Request{Method: "GET", Path: "/", Trigger: protocol.TriggerHTTP})
		require.NoError(t, err)
		return *rep
	}
	require.Equal(t, StartReport{Known: true, Cold: true}, call(), "the first call starts the worker")
	require.Equal(t, StartReport{Known: true, Cold: false}, call(), "the second reuses it")
	require.Nil(t, StartReportFrom(context.Background()))
}
