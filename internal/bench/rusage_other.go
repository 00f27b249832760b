//go:build !linux && !darwin

package main

import (
	"os"
	"time"
)

// usageOf returns the CPU time of a finished child; peak memory is not
// measured on this OS.
func usageOf(ps *os.ProcessState) (cpu time.Duration, maxRSS int64) {
	return ps.UserTime() + ps.SystemTime(), 0
}

// selfMaxRSS is not measured on this OS.
func selfMaxRSS() int64 { return 0 }
