//go:build !sandboxprobe || !linux

package worker

import lua "github.com/yuin/gopher-lua"

// openProbe does nothing: the sandbox probe (sandbox_probe.go) exists only
// in test builds with -tags sandboxprobe.
func openProbe(*lua.LState) {}
