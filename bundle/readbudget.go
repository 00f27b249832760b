package bundle

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sync/semaphore"
)

// zipReadBudget bounds the memory of the module zips a writer reads at
// once (each file inflated, a copy deflated for the digest of the zip as
// served, archive/zip's directory and decompressor). The resolver hands
// zips over as they arrive, 128 at a time at create's default --jobs, and
// on a union of seven large projects the zips being read held 330 MB of a
// 790 MB live heap; reading is CPU work, so more zips at once than twice
// the processors only wait on one another with their memory held.
const zipReadBudget = 96 << 20

// readBudget is a weighted semaphore over zipReadBudget bytes: a zip read
// holds a fixed part (a share that lets twice GOMAXPROCS reads run) and
// what its largest file needs on top, never more than the whole budget,
// so a zip with one huge file is read alone rather than refused.
type readBudget struct {
	sem   *semaphore.Weighted
	total int64
	fixed int64
	// held and reads are what is held now and by how many reads; peak
	// and peakReads their highest values (for tests and figures).
	mu               sync.Mutex
	held, peak       int64
	reads, peakReads int
}

func newReadBudget(total int64) *readBudget {
	fixed := max(total/int64(2*runtime.GOMAXPROCS(0)), 1<<20)
	return &readBudget{sem: semaphore.NewWeighted(total), total: total, fixed: min(fixed, total)}
}

// acquire waits for the fixed part and extra bytes (within the budget) and
// returns the function that gives them back.
func (b *readBudget) acquire(ctx context.Context, extra int64) (func(), error) {
	n := min(b.fixed+max(extra, 0), b.total)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return func() {}, err
	}
	b.note(n, 1)
	return func() { b.note(-n, -1); b.sem.Release(n) }, nil
}

func (b *readBudget) note(n int64, reads int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held += n
	b.reads += reads
	b.peak = max(b.peak, b.held)
	b.peakReads = max(b.peakReads, b.reads)
}

// peaks returns the most bytes and reads held at once so far.
func (b *readBudget) peaks() (int64, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak, b.peakReads
}

// grow turns a read holding only the fixed part (release) into one holding
// extra bytes more. When they are not free at once it gives the fixed part
// back and waits for the whole, so that reads waiting to grow never hold
// the budget among themselves. On failure nothing is held.
func (b *readBudget) grow(ctx context.Context, release func(), extra int64) (func(), error) {
	n := min(b.fixed+max(extra, 0), b.total) - b.fixed
	if n <= 0 {
		return release, nil
	}
	if b.sem.TryAcquire(n) {
		b.note(n, 0)
		return func() { release(); b.note(-n, 0); b.sem.Release(n) }, nil
	}
	release()
	return b.acquire(ctx, extra)
}

// bufPool keeps the buffers zip reads inflate and deflate files into for
// the next read: each zip read needs two as large as its largest file, and
// allocating them afresh was 2.4 GB of the 6.7 GB a union of seven
// projects allocated, garbage the collector had to chase near the soft
// memory limit. It keeps at most maxPooled bytes (the idle buffers count
// as live heap) and hands out the smallest buffer that is large enough.
type bufPool struct {
	mu   sync.Mutex
	free [][]byte
	size int64
}

// maxPooled bounds what a bufPool keeps, minPooledBuf is the smallest
// buffer worth keeping.
const (
	maxPooled    = 32 << 20
	minPooledBuf = 64 << 10
)

// get returns a buffer of length 0 and capacity at least n.
func (p *bufPool) get(n int) []byte {
	p.mu.Lock()
	best := -1
	for i, b := range p.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := p.free[best]
		p.free = slices.Delete(p.free, best, best+1)
		p.size -= int64(cap(b))
		p.mu.Unlock()
		return b[:0]
	}
	p.mu.Unlock()
	// Rounded up, so that one buffer serves files of about its size.
	return make([]byte, 0, (n+minPooledBuf-1)/minPooledBuf*minPooledBuf)
}

// put keeps b for a later get, unless it is small or the pool would hold
// more than maxPooled; then it drops the smallest buffers first.
func (p *bufPool) put(b []byte) {
	if cap(b) < minPooledBuf || cap(b) > maxPooled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, b[:0])
	p.size += int64(cap(b))
	slices.SortFunc(p.free, func(x, y []byte) int { return cap(y) - cap(x) })
	for p.size > maxPooled {
		last := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		p.size -= int64(cap(last))
	}
}
