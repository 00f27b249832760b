package main

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCPUReference writes two zips and checks that the reference reads
// their files in name order up to its limit and reports both rates.
func TestCPUReference(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b/@v/v1.0.0.zip", "a/@v/v1.0.0.zip"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		for i := 0; i < 3; i++ {
			w, err := zw.Create(fmt.Sprintf("%s/f%d.go", name[:1], i))
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(strings.Repeat(name[:1], 1000)))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	files, err := referenceFiles(context.Background(), dir, 4000)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 || files[0][0] != 'a' || files[3][0] != 'b' {
		t.Fatalf("got %d files, want a's three then one of b's (the limit)", len(files))
	}
	b := &bench{rep: &report{}}
	if err := b.addCPUReference(context.Background(), &tree{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if err := b.addCPUReference(context.Background(), &tree{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if len(b.rep.Figures) != 2 {
		t.Fatalf("%d figures after two calls, want 2 (once a run)", len(b.rep.Figures))
	}
	for _, f := range b.rep.Figures {
		if f.Value <= 0 || f.Unit != "MB/s" {
			t.Errorf("%s: %v %s", f.Measure, f.Value, f.Unit)
		}
	}
}
