package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

// invocationTriggers are the triggers GET /api/v1/invocations filters by.
var invocationTriggers = []string{protocol.TriggerHTTP, protocol.TriggerCron, protocol.TriggerEvent, protocol.TriggerDeadLetter}

// invocationWindow reads the trigger, since and until filters of GET
// /api/v1/invocations into f: since and until are RFC 3339 times.
func invocationWindow(q url.Values, f *store.InvocationFilter) error {
	if f.Trigger != "" && !slices.Contains(invocationTriggers, f.Trigger) {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "trigger",
			Message: fmt.Sprintf("trigger %q is unknown: use one of %v", truncate(f.Trigger, 40), invocationTriggers)}
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: p.name,
				Message: fmt.Sprintf("%s %q is not a time: use RFC 3339, like 2026-01-02T15:04:05Z", p.name, truncate(s, 40))}
		}
		*p.to = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "until",
			Message: "until must be after since"}
	}
	return nil
}
