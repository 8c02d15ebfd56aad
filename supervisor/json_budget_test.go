//go:build linux

package supervisor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

// A 5 MB JSON body of small objects is hundreds of MB as Lua tables. Under
// a 32 MiB limit json.decode must fail the call with a clear error, not get
// the worker OOM-killed: the same worker (same PID) serves the next call.
func TestSupervisor_JSONDecodeOverMemoryBudgetFailsCleanly(t *testing.T) {
	b := setup(t, nil)
	if !b.sup.Status().LimitsEnforced {
		t.Skipf("limits are not enforced here (%s): needs root and a writable memory cgroup", b.sup.Status().LimitsMode)
	}
	fn := testFn("jsonbomb", 1, func(l *functions.Limits) { l.MemoryBytes = 32 << 20; l.Concurrency = 1 })
	fn.Source = `
function handle(req)
  if req.path == "/decode" then
    local v = json.decode(req.body)
    return "decoded " .. #v
  end
  return "ok"
end`
	call := func(path string, body []byte) (*protocol.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return b.sup.Invoke(ctx, fn, &protocol.Request{Method: "POST", Path: path, Body: body, Trigger: protocol.TriggerHTTP})
	}
	resp, err := call("/", nil)
	require.NoError(t, err)
	require.Equal(t, "ok", string(resp.Body))
	ws := workersOf(b.sup.Status(), "jsonbomb")
	require.Len(t, ws, 1)
	pid := ws[0].PID

	body := []byte("[" + strings.Repeat(`{"a":1},`, 5<<20/8) + "{}]")
	_, err = call("/decode", body)
	ie := invokeErr(t, err)
	require.Equal(t, KindScript, ie.Kind, "error: %v", ie)
	require.Contains(t, ie.Message, "json.decode: input too large for the memory limit")

	resp, err = call("/", nil)
	require.NoError(t, err)
	require.Equal(t, "ok", string(resp.Body))
	ws = workersOf(b.sup.Status(), "jsonbomb")
	require.Len(t, ws, 1)
	require.Equal(t, pid, ws[0].PID, "the same worker serves the next call")

	// A body within the budget still decodes.
	resp, err = call("/decode", []byte("["+strings.Repeat(`{"a":1},`, 1000)+"{}]"))
	require.NoError(t, err)
	require.Equal(t, "decoded 1001", string(resp.Body))
}
