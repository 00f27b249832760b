package main

import (
	"archive/zip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestCPUFloorFigure checks the floor is the median CPU over the cores and
// that its note tells a target the CPU alone misses (with the cut that
// would close it) from one only the overlap misses.
func TestCPUFloorFigure(t *testing.T) {
	cold := []measurement{{CPU: 50 * time.Second, Wall: 28 * time.Second}, {CPU: 60 * time.Second, Wall: 40 * time.Second},
		{CPU: 52 * time.Second, Wall: 32500 * time.Millisecond}}
	f := cpuFloorFigure("latency 50 ms", cold, 50, 0.5, 2, "c", "s")
	if f.Value != 26 || f.Stock != 50 || !f.HasStock || f.Runs != 3 {
		t.Fatalf("floor figure = %+v, want 52 s ÷ 2 cores = 26 s beside 50 s", f)
	}
	// 26/50 = 0.52 > 0.5: the CPU must drop by 1 - 0.5/0.52 = 3.8 %.
	if !strings.Contains(f.Note, "0.520× is over") || !strings.Contains(f.Note, "4 % less CPU") {
		t.Errorf("note = %q, want the floor over the target and the CPU cut", f.Note)
	}
	f = cpuFloorFigure("carry", cold, 30, 1.0, 2, "c", "s")
	// 26/30 = 0.867 within 1.0: it needs 87 % use of the cores, the
	// creates had 26 s of CPU per core in a median 32.5 s, 80 %.
	if !strings.Contains(f.Note, "0.867× is within") || !strings.Contains(f.Note, "87 % use of the 2 cores") || !strings.Contains(f.Note, "80 %") {
		t.Errorf("note = %q, want the floor within the target, the use it needs and the use measured", f.Note)
	}
	if f = cpuFloorFigure("x", cold, 30, 1.0, 4, "c", "s"); f.Value != 13 {
		t.Errorf("floor on 4 cores = %v, want 13", f.Value)
	}
}
