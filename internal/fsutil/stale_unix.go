//go:build unix

package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LockTemp marks f, a temporary file being written, as in use for as long
// as this process keeps it open (an advisory lock the kernel drops when
// the process dies, SIGKILL included), so that RemoveStaleTemps leaves it
// alone.
func LockTemp(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// RemoveStaleTemps removes the files of dir whose names start with prefix
// and that no live process holds locked with LockTemp: what a writer
// killed before it could clean up (SIGKILL, power loss) left behind.
// Errors are ignored: a temporary file left is untidy, not wrong.
func RemoveStaleTemps(dir, prefix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(name)
		}
		f.Close()
	}
}
