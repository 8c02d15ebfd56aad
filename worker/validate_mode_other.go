//go:build !linux

package worker

// limitValidator does nothing outside Linux.
func limitValidator(uint64, uint64) {}
