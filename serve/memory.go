package serve

import "runtime"

// minShare is the least frame cache a bundle gets from Options.MemoryBytes,
// however many bundles share it: a frame larger than the cache is never
// kept, so below one frame (64 MiB as create writes them) every file read
// of a zip decompresses its whole frame again (measured: 20 bundles
// sharing 512 MiB, 25 MiB each, took minutes per zip). With more bundles
// than the budget holds frames, the budget is exceeded rather than that.
const minShare = 64 << 20

// cacheSizer is a source whose frame cache can be bounded.
type cacheSizer interface {
	SetCacheBytes(int64)
}

// shareMemory divides Options.MemoryBytes between the frame caches of the
// bundles of v, equally, at least minShare each; bundles kept from the
// previous view are resized too. Readers of bundles that left the view keep
// their caches until the last request on them ends and they are closed.
func (s *Server) shareMemory(v *view) {
	if s.opts.MemoryBytes <= 0 || len(v.bundles) == 0 {
		return
	}
	share := max(s.opts.MemoryBytes/int64(len(v.bundles)), minShare)
	for _, b := range v.bundles {
		if cs, ok := b.src.(cacheSizer); ok {
			cs.SetCacheBytes(share)
		}
	}
}

// newDecodeSlots returns the decompression slots all readers of a server
// share: one per CPU.
func newDecodeSlots() chan struct{} {
	return make(chan struct{}, runtime.GOMAXPROCS(0))
}
