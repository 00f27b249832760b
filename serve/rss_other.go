//go:build !linux

package serve

// processRSS is not measured here.
func processRSS() (int64, bool) { return 0, false }
