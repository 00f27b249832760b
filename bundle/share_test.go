package bundle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallWriter signals its first write and then blocks until release is
// closed, as a slow disk or client would: the zip build writing to it
// holds its frame meanwhile.
type stallWriter struct {
	once    sync.Once
	started chan<- struct{}
	release <-chan struct{}
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { w.started <- struct{}{} })
	<-w.release
	return len(p), nil
}

// TestZipBuildsWithinSharedBound: the frames that zip builds hold while
// they write (serve's zip cache, unpack) count against the shared frame
// cache's bound with the frames kept. Six bundles of one incompressible
// 4 MiB frame each share a 17 MiB cache; six builds start at once and
// stall in their first write. A build reserves its frame and the frame's
// compressed bytes (8 MiB), so only two may hold a frame at a time (the
// others wait for room),
// the cache never reports more than its bound held, and the live heap
// shows it: six stalled builds used to hold six frames (24 MiB of frames
// and their buffers, past any bound). Once released, every build
// completes with the bundle's bytes.
func TestZipBuildsWithinSharedBound(t *testing.T) {
	ctx := context.Background()
	const n, fileSize, bound = 6, 4 << 20, 17 << 20
	cache := NewFrameCache(bound)
	var readers []*Reader
	rng := rand.NewChaCha8([32]byte{1})
	for i := range n {
		data := make([]byte, fileSize) // incompressible: the frame is the file's size
		rng.Read(data)
		src := t.TempDir()
		writeTree(t, src, []testModule{{path: fmt.Sprintf("example.com/m%d", i), version: "v1.0.0",
			files: []testFile{{"big.bin", data}}}})
		out := filepath.Join(t.TempDir(), "b.gobundle")
		packTree(t, src, out, WriterOptions{Tool: "test", Level: 1})
		r, err := Open(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		r.ShareCache(cache)
		readers = append(readers, r)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	started := make(chan struct{}, n)
	release := make(chan struct{})
	var wg sync.WaitGroup
	var sizes [n]int64
	var failed atomic.Int32
	for i, r := range readers {
		wg.Go(func() {
			fi, err := r.WriteZip(ctx, fmt.Sprintf("example.com/m%d", i), "v1.0.0", &stallWriter{started: started, release: release})
			if err != nil {
				t.Errorf("bundle %d: %v", i, err)
				failed.Add(1)
			}
			sizes[i] = fi.Size
		})
	}
	stalled := 0
	for stalled < 2 {
		select {
		case <-started:
			stalled++
		case <-time.After(30 * time.Second):
			t.Fatalf("%d builds reached their first write in 30 s, want 2", stalled)
		}
	}
	// Give the other builds time to get as far as they can.
	time.Sleep(300 * time.Millisecond)
	stalled += len(started)
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	live := int64(during.HeapAlloc) - int64(before.HeapAlloc)
	if stalled != 2 {
		t.Errorf("%d builds hold a frame at once, want 2 (17 MiB bound, 8 MiB a build)", stalled)
	}
	if held := cache.Held(); held > bound {
		t.Errorf("cache holds %d bytes of frames, over its bound %d", held, bound)
	}
	// Two stalled builds: a frame, its compressed bytes and the file's
	// deflate output each, about 25 MiB; six held 75 MiB.
	if live > 40<<20 {
		t.Errorf("live heap grew by %d MiB with builds stalled, want at most 40 MiB", live>>20)
	}
	close(release)
	wg.Wait()
	if failed.Load() > 0 {
		return
	}
	if p := cache.PeakHeld(); p > bound {
		t.Errorf("peak frames held %d, over the bound %d", p, bound)
	}
	// What stays reserved is at most the spare buffer of one frame.
	if left := cache.Held() - cache.Used(); left > 2*fileSize {
		t.Errorf("reservations left after the builds: held %d, kept %d", cache.Held(), cache.Used())
	}
	for i, r := range readers {
		m, _ := r.Module(fmt.Sprintf("example.com/m%d", i), "v1.0.0")
		if sizes[i] != m.Zip.Size {
			t.Errorf("bundle %d: built %d bytes, want %d", i, sizes[i], m.Zip.Size)
		}
	}
}
