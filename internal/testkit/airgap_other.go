//go:build !linux

package testkit

// reexecAirGapped is only possible on Linux.
func reexecAirGapped() (int, bool) { return 0, false }
