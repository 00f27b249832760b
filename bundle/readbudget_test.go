package bundle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
)

// TestReadBudgetGrowNeverDeadlocks: reads that each hold the fixed part
// and then ask for more than is free give the fixed part back while they
// wait, so they all finish, and what they hold together never passes the
// budget.
func TestReadBudgetGrowNeverDeadlocks(t *testing.T) {
	b := newReadBudget(100)
	b.fixed = 25
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			release, err := b.acquire(ctx, 0)
			if err != nil {
				errs <- err
				return
			}
			time.Sleep(time.Millisecond)
			// Some ask for more than the whole budget: they get it all.
			if release, err = b.grow(ctx, release, int64(rand.IntN(200))+int64(i%2)); err != nil {
				errs <- err
				return
			}
			time.Sleep(time.Millisecond)
			release()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a read never got its memory: %v", err)
	}
	peak, _ := b.peaks()
	if peak > 100 || peak < 25 {
		t.Fatalf("peak held %d of a budget of 100", peak)
	}
	if b.held != 0 || b.reads != 0 {
		t.Fatalf("after every release: %d bytes, %d reads still held", b.held, b.reads)
	}
}

// TestZipReadsWithinBudget: zips handed to the writer 32 at once (the
// resolver hands them over as they download, 128 at a time) are read
// within zipReadBudget, at most twice GOMAXPROCS at a time, and a zip
// whose largest file needs most of the budget is read alone: before, all
// 32 were inflated at once, each holding its largest file twice.
func TestZipReadsWithinBudget(t *testing.T) {
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		mv := module.Version{Path: fmt.Sprintf("example.com/m%d", i), Version: "v1.0.0"}
		size := 256 << 10
		if i%8 == 0 {
			size = 40 << 20
		}
		file := writeLyingZip(t, mv, size, uint64(size), 0)
		wg.Go(func() {
			if _, err := w.PrepareZip(context.Background(), mv.Path, mv.Version, file, ""); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	peak, reads := w.zipMem.peaks()
	if peak != zipReadBudget {
		t.Errorf("peak held %d MiB, want the whole budget (%d MiB) for a 40 MiB file", peak>>20, zipReadBudget>>20)
	}
	if max := 2 * runtime.GOMAXPROCS(0); reads < 1 || reads > max {
		t.Errorf("%d zips read at once, want 1 to %d", reads, max)
	}
}

// TestBufPoolBounded: the pool hands a kept buffer to the next read that
// fits in it, and keeps no more than maxPooled bytes idle.
func TestBufPoolBounded(t *testing.T) {
	var p bufPool
	a := p.get(1 << 20)
	if cap(a) < 1<<20 || len(a) != 0 {
		t.Fatalf("get(1 MiB): len %d cap %d", len(a), cap(a))
	}
	p.put(a)
	if b := p.get(700 << 10); cap(b) != cap(a) {
		t.Fatalf("get(700 KiB) after put(1 MiB): cap %d, want the kept buffer", cap(b))
	}
	for range 100 {
		p.put(make([]byte, 0, 3<<20))
	}
	if p.size > maxPooled {
		t.Fatalf("pool keeps %d bytes, bound %d", p.size, maxPooled)
	}
	if b := p.get(5 << 20); cap(b) < 5<<20 {
		t.Fatalf("get(5 MiB) from a pool of 3 MiB buffers: cap %d", cap(b))
	}
}
