package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/picloud/picloud/events"
	"github.com/picloud/picloud/store"
)

// asyncPost queues a call of /fn/name with body and returns the status, the
// JSON error (if any) and Retry-After.
func asyncPost(t *testing.T, base, name, body string) (int, ErrorBody, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/fn/"+name, strings.NewReader(body))
	req.Header.Set(HeaderAsync, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e ErrorBody
	if resp.StatusCode != http.StatusAccepted {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("status %d with a body that is not JSON: %s", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, e, resp.Header.Get("Retry-After")
}

func TestFnAsync_QueueOfOneFunctionIsBoundedInCallsAndBytes(t *testing.T) {
	t.Parallel()
	const maxCalls, maxBytes = 5, 1000
	b := setupDB(t)
	// No invoker: nothing works the jobs, so queued calls stay queued.
	svc := startService(t, b, func(c *events.Config) {
		c.Invoker = nil
		c.MaxQueuedCalls, c.MaxQueuedBytes = maxCalls, maxBytes
	})
	srv := serveHTTP(t, b, svc)
	ctx := context.Background()
	for _, name := range []string{"many", "big", "other"} {
		if _, err := b.st.CreateFunction(ctx, store.DeployParams{Name: name, AllowAsync: true,
			Source: `function handle(req) return "ok" end`}); err != nil {
			t.Fatal(err)
		}
	}

	// Count: maxCalls small calls are queued, the next is refused.
	for i := 0; i < maxCalls; i++ {
		if st, e, _ := asyncPost(t, srv.URL, "many", "x"); st != http.StatusAccepted {
			t.Fatalf("call %d of %d: %d %+v", i+1, maxCalls, st, e)
		}
	}
	st, e, retry := asyncPost(t, srv.URL, "many", "x")
	if st != http.StatusTooManyRequests || e.Code != CodeQueueFull || retry == "" {
		t.Fatalf("call %d: %d %+v Retry-After %q, want 429 %s with Retry-After", maxCalls+1, st, e, retry, CodeQueueFull)
	}

	// Bytes: 300-byte bodies fill 1000 bytes after at most 3 calls.
	body := strings.Repeat("b", 300)
	accepted := 0
	for i := 0; i < 5; i++ {
		st, e, _ := asyncPost(t, srv.URL, "big", body)
		if st == http.StatusTooManyRequests && e.Code == CodeQueueFull {
			break
		}
		if st != http.StatusAccepted {
			t.Fatalf("big call %d: %d %+v", i+1, st, e)
		}
		accepted++
	}
	if accepted < 1 || accepted > maxBytes/300 {
		t.Fatalf("%d calls of 300 bytes queued under a bound of %d bytes, want 1 to %d", accepted, maxBytes, maxBytes/300)
	}

	// The bound is per function.
	if st, e, _ := asyncPost(t, srv.URL, "other", "x"); st != http.StatusAccepted {
		t.Fatalf("another function: %d %+v", st, e)
	}
}
