package functions

import "net/http"

// Outcome is how one run of a function ended. Every trigger (HTTP, async,
// event, cron, dead letter) maps its call to one of these the same way,
// and metrics, records and HTTP answers are all derived from it.
type Outcome string

// Outcomes of a run.
const (
	// OutcomeOK: the handler answered with a status below 500.
	OutcomeOK Outcome = "ok"
	// OutcomeError: a Lua error, a 5xx answer from the handler, or events
	// it emitted that cannot be published.
	OutcomeError Outcome = "error"
	// OutcomeTimeout: the call ran past the function's timeout.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeMemory: the worker hit the function's memory limit.
	OutcomeMemory Outcome = "memory"
	// OutcomeCrash: the worker died under the call or could not start.
	OutcomeCrash Outcome = "crash"
	// OutcomeOverloaded: every worker stayed busy for the queue timeout.
	OutcomeOverloaded Outcome = "overloaded"
	// OutcomeUnavailable: this node is stopping, or the function could not
	// be looked up; another attempt later may succeed.
	OutcomeUnavailable Outcome = "unavailable"
	// OutcomeGone: the function does not exist (any more).
	OutcomeGone Outcome = "gone"
	// OutcomeCanceled: the caller went away before the answer.
	OutcomeCanceled Outcome = "canceled"
)

// Failed says whether the run counts as a failure of the function (its
// record's Status is StatusFailed).
func (o Outcome) Failed() bool { return o != OutcomeOK }

// Retryable says whether the run never reached the function for a reason
// of the platform (busy, stopping): a queued delivery waits and tries
// again without spending an attempt.
func (o Outcome) Retryable() bool { return o == OutcomeOverloaded || o == OutcomeUnavailable }

// HTTPStatus is the status a synchronous caller gets for a failed run;
// for OutcomeOK it is the handler's own status, given as answered.
func (o Outcome) HTTPStatus(answered int) int {
	switch o {
	case OutcomeOK:
		return answered
	case OutcomeError:
		if answered >= 500 {
			return answered
		}
		return http.StatusInternalServerError
	case OutcomeTimeout:
		return http.StatusGatewayTimeout
	case OutcomeMemory, OutcomeCrash:
		return http.StatusBadGateway
	case OutcomeOverloaded, OutcomeUnavailable:
		return http.StatusServiceUnavailable
	case OutcomeGone:
		return http.StatusNotFound
	case OutcomeCanceled:
		return 499 // client closed request, as nginx logs it
	}
	return http.StatusInternalServerError
}
