//go:build !unix

package fsutil

import "os"

// LockTemp does nothing here: without advisory locks, a temporary file in
// use cannot be told from a stale one.
func LockTemp(f *os.File) {}

// RemoveStaleTemps does nothing here (see LockTemp).
func RemoveStaleTemps(dir, prefix string) {}
