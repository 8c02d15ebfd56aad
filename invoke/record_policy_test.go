package invoke

import (
	"testing"

	"github.com/picloud/picloud/functions"
	"github.com/picloud/picloud/protocol"
)

func TestRecordPolicy_KeepsWhatMustBeKeptAndSamplesTheRest(t *testing.T) {
	ok := functions.Invocation{Trigger: protocol.TriggerHTTP, Status: functions.StatusSucceeded}
	failed := ok
	failed.Status = functions.StatusFailed
	logged := ok
	logged.Logs = []protocol.LogEntry{{Level: "info", Message: "hi"}}
	dropped := ok
	dropped.LogsDropped = 3
	event := ok
	event.Trigger = protocol.TriggerEvent
	cron := ok
	cron.Trigger = protocol.TriggerCron
	for _, tc := range []struct {
		name   string
		policy RecordPolicy
		rec    functions.Invocation
		want   bool
	}{
		{"zero policy keeps all", RecordPolicy{}, ok, true},
		{"all", RecordPolicy{Mode: RecordAll}, ok, true},
		{"failures drops a silent success", RecordPolicy{Mode: RecordFailures}, ok, false},
		{"sampled 0 drops a silent success", RecordPolicy{Mode: RecordSampled}, ok, false},
		{"sampled 1 keeps a silent success", RecordPolicy{Mode: RecordSampled, Sample: 1}, ok, true},
		{"a failure is kept", RecordPolicy{Mode: RecordFailures}, failed, true},
		{"a call that logged is kept", RecordPolicy{Mode: RecordFailures}, logged, true},
		{"a call whose logs were dropped is kept", RecordPolicy{Mode: RecordFailures}, dropped, true},
		{"an event delivery is kept", RecordPolicy{Mode: RecordFailures}, event, true},
		{"a cron run is kept", RecordPolicy{Mode: RecordFailures}, cron, true},
	} {
		if got := tc.policy.keeps(&tc.rec); got != tc.want {
			t.Errorf("%s: keeps = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseRecordPolicy_RefusesUnknownModesAndFractionsOutOfRange(t *testing.T) {
	if p, err := ParseRecordPolicy("Sampled", 0.25); err != nil || p != (RecordPolicy{Mode: RecordSampled, Sample: 0.25}) {
		t.Errorf("sampled 0.25: %v, %v", p, err)
	}
	for _, bad := range []struct {
		mode   string
		sample float64
	}{{"some", 0.1}, {"", 0.1}, {"all", -0.1}, {"sampled", 1.5}} {
		if _, err := ParseRecordPolicy(bad.mode, bad.sample); err == nil {
			t.Errorf("%q %v: no error", bad.mode, bad.sample)
		}
	}
}
