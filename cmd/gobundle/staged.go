package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// staged runs write on a directory that becomes dir. When dir does not
// exist, write fills a fresh directory beside it, renamed to dir once
// write succeeded and removed when it failed (a full disk, a corrupt
// bundle, an interrupt): a new tree appears whole or not at all. Into an
// existing dir, write works in place (each file is written to a temporary
// name and renamed by its writer, so no file is ever half-written).
func staged(dir string, write func(dir string) error) error {
	if _, err := os.Lstat(dir); err == nil {
		return write(dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o777); err != nil {
		return err
	}
	// Not os.MkdirTemp, which makes 0700: the tree is for others to read,
	// as the umask allows.
	tmp := filepath.Join(parent, "."+filepath.Base(dir)+".tmp-"+rand.Text()[:12])
	if err := os.Mkdir(tmp, 0o777); err != nil {
		return err
	}
	if err := write(tmp); err != nil {
		if rerr := os.RemoveAll(tmp); rerr != nil {
			return fmt.Errorf("%w (and removing %s: %v)", err, tmp, rerr)
		}
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}
