package serve

import (
	"fmt"
	"io"
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

// writeFrameMetrics reports the shared frame cache: its bound, the
// decompressed frames it holds now (kept, and in flight: being
// decompressed or held by a zip build) and their high-water mark, which
// stays within the bound whatever the clients ask (bundle.FrameCache).
func writeFrameMetrics(w io.Writer, c *bundle.FrameCache) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "# HELP gobundle_serve_memory_limit_bytes The --memory budget: decompressed frames of all bundles together.\n")
	fmt.Fprintf(w, "# TYPE gobundle_serve_memory_limit_bytes gauge\n")
	fmt.Fprintf(w, "gobundle_serve_memory_limit_bytes %d\n", c.Limit())
	fmt.Fprintf(w, "# HELP gobundle_serve_frame_bytes Decompressed frames in memory, by state: kept in the cache, or held (kept plus in flight: being decompressed, or read by a zip build).\n")
	fmt.Fprintf(w, "# TYPE gobundle_serve_frame_bytes gauge\n")
	fmt.Fprintf(w, "gobundle_serve_frame_bytes{state=\"kept\"} %d\n", c.Used())
	fmt.Fprintf(w, "gobundle_serve_frame_bytes{state=\"held\"} %d\n", c.Held())
	fmt.Fprintf(w, "# HELP gobundle_serve_frame_bytes_peak Most decompressed frames held at once since the start.\n")
	fmt.Fprintf(w, "# TYPE gobundle_serve_frame_bytes_peak gauge\n")
	fmt.Fprintf(w, "gobundle_serve_frame_bytes_peak %d\n", c.PeakHeld())
}
