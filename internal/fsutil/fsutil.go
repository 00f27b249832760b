// Package fsutil holds the file-system helpers gobundle's packages share.
package fsutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data (the parts one after the other, which saves
// the caller joining them in memory) to name through a temporary file in
// the same directory that is renamed into place, so a reader never sees a
// partial file and a failure leaves nothing behind. The directory must
// exist.
func WriteFileAtomic(name string, data ...[]byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	for _, part := range data {
		if err == nil {
			_, err = tmp.Write(part)
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// FileSHA256 returns the hex sha256 of the file name, as sha256sum prints
// it.
func FileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WalkFiles calls fn for every regular file under dir, with its
// information. A missing dir holds no files; files removed during the walk
// (by another process) are skipped.
func WalkFiles(dir string, fn func(path string, info fs.FileInfo) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if p == dir {
					return fs.SkipAll
				}
				return nil // removed meanwhile
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		return fn(p, info)
	})
}
