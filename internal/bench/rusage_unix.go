//go:build linux || darwin

package main

import (
	"os"
	"runtime"
	"syscall"
	"time"
)

// usageOf returns the CPU time and peak resident set size that the kernel
// reports for a finished child process (and the children it waited for).
func usageOf(ps *os.ProcessState) (cpu time.Duration, maxRSS int64) {
	cpu = ps.UserTime() + ps.SystemTime()
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return cpu, 0
	}
	return cpu, maxrssBytes(int64(ru.Maxrss))
}

// selfMaxRSS returns this process's own peak resident set size.
func selfMaxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return maxrssBytes(int64(ru.Maxrss))
}

// maxrssBytes converts ru_maxrss to bytes: Linux counts KiB, macOS bytes.
func maxrssBytes(v int64) int64 {
	if runtime.GOOS == "darwin" {
		return v
	}
	return v * 1024
}
