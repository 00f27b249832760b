package serve

import (
	"runtime"

	"github.com/gobundle/gobundle/bundle"
)

// sharedFrames returns the frame cache all readers of a server share under
// Options.MemoryBytes, nil when there is no budget (each reader keeps its
// own). One cache, not equal shares: a frame larger than a bundle's share
// would never be kept, so with twenty bundles in 512 MiB (25 MiB each,
// below one 64 MiB frame) every file read of a zip decompressed its whole
// frame again (measured: minutes per zip). Shared, the budget holds the
// frames in use, whichever bundles they belong to.
func sharedFrames(budget int64) *bundle.FrameCache {
	if budget <= 0 {
		return nil
	}
	return bundle.NewFrameCache(budget)
}

// cacheHolder is a source whose frame cache can be bounded.
type cacheHolder interface {
	Cache() *bundle.FrameCache
}

// shareMemory keeps the frame cache the bundles of v share at
// Options.MemoryBytes (which a caller may change between reloads).
// Readers of bundles that left the view drop their frames from it when
// the last request on them ends and they are closed.
func (s *Server) shareMemory(v *view) {
	if s.opts.MemoryBytes <= 0 {
		return
	}
	for _, b := range v.bundles {
		if ch, ok := b.src.(cacheHolder); ok {
			ch.Cache().SetLimit(s.opts.MemoryBytes)
		}
	}
}

// newDecodeSlots returns the decompression slots all readers of a server
// share: one per CPU.
func newDecodeSlots() chan struct{} {
	return make(chan struct{}, runtime.GOMAXPROCS(0))
}
