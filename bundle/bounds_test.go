package bundle

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A writer refuses to write a frame that readers would refuse as a
// decompression bomb, rather than a bundle nobody can open.
func TestWriterRefusesFrameBeyondExpansionBound(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, []testModule{{path: "example.com/zeros", version: "v1.0.0", mod: "module example.com/zeros\n",
		files: []testFile{{"go.mod", []byte("module example.com/zeros\n")}, {"zeros.bin", make([]byte, 16<<20)}}}})
	ctx := context.Background()
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Pack(ctx, w, src, nil); err != nil {
		t.Fatal(err)
	}
	_, err = w.WriteFile(ctx, filepath.Join(t.TempDir(), "z.gobundle"))
	if err == nil || !strings.Contains(err.Error(), "more than the 512:1 a bundle may hold") {
		t.Fatalf("WriteFile = %v, want the frame refused", err)
	}
}
