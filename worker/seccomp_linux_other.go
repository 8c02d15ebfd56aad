//go:build linux && !amd64 && !arm64 && !arm

package worker

import "errors"

// loadSeccomp has no filter for this architecture.
func loadSeccomp() error {
	return errors.New("no seccomp filter for this architecture")
}
