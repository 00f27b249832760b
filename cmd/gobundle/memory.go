package main

import "runtime/debug"

// createMemoryLimit is the soft memory limit of create and pack (the Go
// runtime's, see runtime/debug.SetMemoryLimit) unless GOMEMLIMIT is set.
// What they hold is bounded by their settings, not by the input: per
// compression worker one encoder window and one compressed frame (a
// frame's raw content streams through the encoder from the spool), plus
// the graph's metadata and the checksum database's tiles. Without a limit
// the garbage collector lets the heap grow to twice that between cycles
// (1.1 GB peak RSS on hugo at two workers); with it, the heap is collected
// more often as it nears the limit, and peak RSS stays under 768 MiB.
const createMemoryLimit = 512 << 20

// limitMemory sets the soft memory limit of a writing command, unless the
// user set GOMEMLIMIT (which the runtime has applied already).
func limitMemory(e *env) {
	if e.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(createMemoryLimit)
	}
}
