package api

import (
	"net/url"
	"testing"
	"time"

	"github.com/picloud/picloud/store"
)

func TestInvocationWindow_ReadsTriggerAndTimesOrSaysWhatToFix(t *testing.T) {
	for _, tc := range []struct {
		query, field string
	}{
		{query: "trigger=cron&since=2026-01-02T15:04:05Z&until=2026-01-02T16:00:00.5Z"},
		{query: "trigger=webhook", field: "trigger"},
		{query: "since=yesterday", field: "since"},
		{query: "since=2026-01-02T16:00:00Z&until=2026-01-02T15:00:00Z", field: "until"},
	} {
		q, _ := url.ParseQuery(tc.query)
		f := store.InvocationFilter{Trigger: q.Get("trigger")}
		err := invocationWindow(q, &f)
		if tc.field == "" {
			if err != nil || f.Since.IsZero() || !f.Until.Equal(time.Date(2026, 1, 2, 16, 0, 0, 5e8, time.UTC)) {
				t.Errorf("%s: %v, filter %+v", tc.query, err, f)
			}
			continue
		}
		if e := asError(err); e == nil || e.Status != 400 || e.Field != tc.field {
			t.Errorf("%s: %v, want a 400 naming %s", tc.query, err, tc.field)
		}
	}
}
