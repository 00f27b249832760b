package serve

import "runtime"

// minShare is the least frame cache a bundle gets from Options.MemoryBytes,
// however many bundles share it: below about one frame, every zip read
// decompresses its frame again.
const minShare = 16 << 20

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
