package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMemoryBudgetShared: Options.MemoryBytes bounds the frame caches of
// all bundles together, divided equally and again at each reload, and the
// readers share one set of decompression slots; /metrics reports RSS.
func TestMemoryBudgetShared(t *testing.T) {
	dir := t.TempDir()
	for i := range 4 {
		writeBundle(t, filepath.Join(dir, fmt.Sprintf("b%d.gobundle", i)), 0,
			testMod{path: fmt.Sprintf("example.com/m%d", i), version: "v1.0.0", files: map[string]string{"a.go": "package a\n"}})
	}
	s, base := runServer(t, Options{Bundles: []string{dir}, MemoryBytes: 1 << 30})
	check := func(n int, share int64) {
		t.Helper()
		v := s.acquire()
		defer v.release(s.log)
		if len(v.bundles) != n {
			t.Fatalf("%d bundles, want %d", len(v.bundles), n)
		}
		var total int64
		var slots chan struct{}
		for _, b := range v.bundles {
			r := b.src.(readerSource).Reader
			if got := r.CacheBytes(); got != share {
				t.Errorf("%s: frame cache %d, want %d", b.name, got, share)
			}
			total += r.CacheBytes()
			if slots == nil {
				slots = r.DecodeSlots()
			} else if r.DecodeSlots() != slots {
				t.Errorf("%s: decompression slots not shared", b.name)
			}
		}
		if total > 1<<30 {
			t.Errorf("frame caches add up to %d, over the budget", total)
		}
	}
	check(4, 256<<20)
	for i := 4; i < 8; i++ {
		writeBundle(t, filepath.Join(dir, fmt.Sprintf("b%d.gobundle", i)), 0,
			testMod{path: fmt.Sprintf("example.com/m%d", i), version: "v1.0.0", files: map[string]string{"a.go": "package a\n"}})
	}
	if err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(8, 128<<20)
	if err := os.Remove(filepath.Join(dir, "b7.gobundle")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(7, (1<<30)/7)
	// Never below one frame: 7 bundles in 128 MiB get 64 MiB each.
	s.opts.MemoryBytes = 128 << 20
	s.shareMemory(s.cur.Load())
	check(7, 64<<20)
	_, body := mustGet(t, "GET", base+"/metrics")
	if runtime.GOOS == "linux" && !strings.Contains(string(body), "\ngobundle_serve_resident_memory_bytes ") {
		t.Errorf("no RSS in /metrics")
	}
}
