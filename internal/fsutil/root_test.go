package fsutil

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteInRootStaysInside(t *testing.T) {
	dir := t.TempDir()
	inside := filepath.Join(dir, "in")
	if err := os.Mkdir(inside, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(inside, "link")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(inside)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	write := func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }
	if err := WriteInRoot(root, "a/b/c", write); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(inside, "a", "b", "c")); string(data) != "x" {
		t.Fatalf("content %q", data)
	}
	for _, name := range []string{"../escaped", "a/../../escaped", "link/escaped", "/abs/escaped"} {
		if err := WriteInRoot(root, name, write); err == nil {
			t.Errorf("%s: written", name)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("written beside the root: %v", ents)
	}
}
