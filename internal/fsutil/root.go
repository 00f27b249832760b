package fsutil

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
)

// CreateRoot creates directory dir if needed and opens it as an os.Root.
func CreateRoot(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	return os.OpenRoot(dir)
}

// WriteInRoot writes the file name (slash-separated, relative to root)
// with what write writes, through a temporary file in the same directory
// that is renamed into place, creating the directories it needs. Every
// operation goes through root, so no name, however crafted, and no
// symbolic link inside it can make it write outside root's directory.
// New files and directories get the modes the umask leaves of 0666 and
// 0777.
func WriteInRoot(root *os.Root, name string, write func(io.Writer) error) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o777); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	var suffix [8]byte
	rand.Read(suffix[:])
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".tmp"+hex.EncodeToString(suffix[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
