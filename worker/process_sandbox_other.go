//go:build !linux

package worker

import "github.com/picloud/picloud/protocol/wire"

// sandboxResult says what applyProcessSandbox achieved.
type sandboxResult struct {
	landlockABI int
	summary     string
	report      wire.SandboxReport
}

// applyProcessSandbox does nothing outside Linux.
func applyProcessSandbox(string, int) sandboxResult {
	return sandboxResult{summary: "no process sandbox on this OS",
		report: wire.SandboxReport{Errors: []string{"no process sandbox on this OS"}}}
}

// closeInheritedFDs does nothing outside Linux.
func closeInheritedFDs() int { return 0 }
