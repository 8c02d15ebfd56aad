//go:build !linux

package worker

// sandboxResult says what applyProcessSandbox achieved.
type sandboxResult struct {
	landlockABI int
	summary     string
}

// applyProcessSandbox does nothing outside Linux.
func applyProcessSandbox(string) sandboxResult {
	return sandboxResult{summary: "no process sandbox on this OS"}
}
