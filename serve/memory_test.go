package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/bundle"
)

// TestMemoryBudgetShared: Options.MemoryBytes bounds the frame caches of
// all bundles together: the readers share one cache at the budget, kept at
// each reload, and one set of decompression slots; /metrics reports RSS.
func TestMemoryBudgetShared(t *testing.T) {
	dir := t.TempDir()
	for i := range 4 {
		writeBundle(t, filepath.Join(dir, fmt.Sprintf("b%d.gobundle", i)), 0,
			testMod{path: fmt.Sprintf("example.com/m%d", i), version: "v1.0.0", files: map[string]string{"a.go": "package a\n"}})
	}
	s, base := runServer(t, Options{Bundles: []string{dir}, MemoryBytes: 1 << 30})
	check := func(n int, limit int64) {
		t.Helper()
		v := s.acquire()
		defer v.release(s.log)
		if len(v.bundles) != n {
			t.Fatalf("%d bundles, want %d", len(v.bundles), n)
		}
		var cache *bundle.FrameCache
		var slots chan struct{}
		for _, b := range v.bundles {
			r := b.src.(readerSource).Reader
			if cache == nil {
				cache, slots = r.Cache(), r.DecodeSlots()
			} else if r.Cache() != cache {
				t.Errorf("%s: frame cache not shared", b.name)
			} else if r.DecodeSlots() != slots {
				t.Errorf("%s: decompression slots not shared", b.name)
			}
		}
		// The indexes take their part of the budget; the frames get the rest.
		fixed := v.fixedBytes()
		if fixed <= 0 || fixed > 64<<10 {
			t.Errorf("indexes of %d tiny bundles take %d bytes", n, fixed)
		}
		if want := limit - fixed - min(inFlightBytes, limit/4); cache.Limit() != want {
			t.Errorf("shared frame cache bound %d, want %d (the budget %d less the indexes' %d and what requests hold)", cache.Limit(), want, limit, fixed)
		}
	}
	check(4, 1<<30)
	for i := 4; i < 8; i++ {
		writeBundle(t, filepath.Join(dir, fmt.Sprintf("b%d.gobundle", i)), 0,
			testMod{path: fmt.Sprintf("example.com/m%d", i), version: "v1.0.0", files: map[string]string{"a.go": "package a\n"}})
	}
	if err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(8, 1<<30)
	if err := os.Remove(filepath.Join(dir, "b7.gobundle")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(7, 1<<30)
	s.opts.MemoryBytes = 128 << 20
	s.shareMemory(s.cur.Load())
	check(7, 128<<20)
	_, body := mustGet(t, "GET", base+"/metrics")
	if runtime.GOOS == "linux" && !strings.Contains(string(body), "\ngobundle_serve_resident_memory_bytes ") {
		t.Errorf("no RSS in /metrics")
	}
}

// TestMemoryBudgetAcrossBundles: with a budget smaller than the frames of
// all bundles together, reading every bundle's zip keeps at most the
// budget, and the most recently read frames stay whichever bundle they
// belong to (with equal shares, a bundle's frame larger than its share was
// never kept).
func TestMemoryBudgetAcrossBundles(t *testing.T) {
	dir := t.TempDir()
	const n, fileSize = 6, 40 << 10
	for i := range n {
		content := strings.Repeat(fmt.Sprintf("// bundle %d\n", i), fileSize/12)
		writeBundle(t, filepath.Join(dir, fmt.Sprintf("b%d.gobundle", i)), 0,
			testMod{path: fmt.Sprintf("example.com/m%d", i), version: "v1.0.0", files: map[string]string{"a.go": content}})
	}
	// Room for about three zip frames, over any one bundle's equal share.
	const budget = 3*fileSize + fileSize/2
	s, base := runServer(t, Options{Bundles: []string{dir}, MemoryBytes: budget})
	for i := range n {
		if resp, _ := mustGet(t, "GET", fmt.Sprintf("%s/example.com/m%d/@v/v1.0.0.zip", base, i)); resp.StatusCode != 200 {
			t.Fatalf("m%d zip: %s", i, resp.Status)
		}
	}
	v := s.acquire()
	defer v.release(s.log)
	cache := v.bundles[0].src.(readerSource).Reader.Cache()
	if used := cache.Used(); used > budget || used < fileSize {
		t.Errorf("shared frame cache holds %d bytes, want between %d and the budget %d", used, fileSize, budget)
	}
	// /metrics reports the frames held and their peak, within the budget.
	_, body := mustGet(t, "GET", base+"/metrics")
	var limit, peak int64
	for _, line := range strings.Split(string(body), "\n") {
		fmt.Sscanf(line, "gobundle_serve_memory_limit_bytes %d", &limit)
		fmt.Sscanf(line, "gobundle_serve_frame_bytes_peak %d", &peak)
	}
	if limit != budget || peak < fileSize || peak > budget {
		t.Errorf("/metrics: memory limit %d, frames peak %d; want %d and between %d and the budget", limit, peak, budget, fileSize)
	}
}
