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

// indexHolder is a source that knows what its index takes in memory.
type indexHolder interface {
	IndexBytes() int64
}

// fixedBytes is what the bundles of v hold in memory for as long as they
// are served, whatever clients ask: their indexes and the merged checksum
// database data (tiles, records). On real projects' bundles that is
// about 15 MB a bundle.
func (v *view) fixedBytes() int64 {
	var n int64
	for _, b := range v.bundles {
		if ih, ok := b.src.(indexHolder); ok {
			n += ih.IndexBytes()
		}
	}
	for _, u := range v.sumdbs {
		n += u.MemoryBytes()
	}
	return n
}

// shareMemory keeps what the bundles of v hold within Options.MemoryBytes
// (which a caller may change between reloads): their indexes and checksum
// database data take what they take, inFlightBytes is kept for requests,
// and the frame cache they share (the frames kept and those in flight,
// with their compressed bytes: bundle.FrameCache) gets the rest, but
// never less than one frame (minFrameBytes), with a warning when that
// makes the budget too small. So twenty bundles at the default 512 MiB
// stay within --memory + 256 MiB of RSS, where indexes and tiles beside a
// full 512 MiB cache went past it. Readers of bundles that left the view
// drop their frames from the cache when the last request on them ends and
// they are closed.
func (s *Server) shareMemory(v *view) {
	budget := s.opts.MemoryBytes
	if budget <= 0 {
		return
	}
	fixed := v.fixedBytes()
	floor := min(minFrameBytes, budget/2)
	frames := max(budget-fixed-min(inFlightBytes, budget/4), floor)
	if fixed+frames > budget {
		s.log.Warn("--memory is too small for the loaded bundles: their indexes and checksum database data alone take most of it, and the frame cache keeps one frame; raise --memory",
			"memory_mib", budget>>20, "indexes_and_sumdb_mib", fixed>>20, "frames_mib", frames>>20, "bundles", len(v.bundles))
	}
	s.fixedMem.Store(fixed)
	for _, b := range v.bundles {
		if ch, ok := b.src.(cacheHolder); ok {
			ch.Cache().SetLimit(frames)
		}
	}
}

// inFlightBytes is what shareMemory keeps of the budget for what requests
// hold beside frames: each zip build's buffer for one file's deflate
// output (up to the largest file, 30 MB in a toolchain), response
// buffers, the collector's work. Without it the live heap of twenty real
// bundles under eight clients sat some 90 MiB above --memory and a
// CPU-starved collector let RSS pass --memory + 256 MiB.
const inFlightBytes = 64 << 20

// minFrameBytes is the least frame cache shareMemory leaves: one frame of
// the writer's default size, so that reading a zip does not decompress its
// frame again for every read.
const minFrameBytes = bundle.DefaultFrameSize

// newDecodeSlots returns the decompression slots all readers of a server
// share: one per CPU.
func newDecodeSlots() chan struct{} {
	return make(chan struct{}, runtime.GOMAXPROCS(0))
}

// writeFrameMetrics reports the shared frame cache: its bound, the
// decompressed frames it holds now (kept, and in flight: being
// decompressed or held by a zip build) and their high-water mark, which
// stays within the bound whatever the clients ask (bundle.FrameCache).
func writeFrameMetrics(w io.Writer, c *bundle.FrameCache, budget, fixed int64) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "# HELP gobundle_serve_memory_limit_bytes The --memory budget: indexes, checksum database data and decompressed frames of all bundles together.\n")
	fmt.Fprintf(w, "# TYPE gobundle_serve_memory_limit_bytes gauge\n")
	fmt.Fprintf(w, "gobundle_serve_memory_limit_bytes %d\n", budget)
	fmt.Fprintf(w, "# HELP gobundle_serve_memory_fixed_bytes What the loaded bundles' indexes and checksum database data take of the budget.\n")
	fmt.Fprintf(w, "# TYPE gobundle_serve_memory_fixed_bytes gauge\n")
	fmt.Fprintf(w, "gobundle_serve_memory_fixed_bytes %d\n", fixed)
	fmt.Fprintf(w, "# HELP gobundle_serve_frame_limit_bytes The frame cache's bound: the budget less the fixed part, at least one frame.\n")
	fmt.Fprintf(w, "# TYPE gobundle_serve_frame_limit_bytes gauge\n")
	fmt.Fprintf(w, "gobundle_serve_frame_limit_bytes %d\n", c.Limit())
	fmt.Fprintf(w, "# HELP gobundle_serve_frame_bytes Decompressed frames in memory, by state: kept in the cache, or held (kept plus in flight: being decompressed, or read by a zip build).\n")
	fmt.Fprintf(w, "# TYPE gobundle_serve_frame_bytes gauge\n")
	fmt.Fprintf(w, "gobundle_serve_frame_bytes{state=\"kept\"} %d\n", c.Used())
	fmt.Fprintf(w, "gobundle_serve_frame_bytes{state=\"held\"} %d\n", c.Held())
	fmt.Fprintf(w, "# HELP gobundle_serve_frame_bytes_peak Most decompressed frames held at once since the start.\n")
	fmt.Fprintf(w, "# TYPE gobundle_serve_frame_bytes_peak gauge\n")
	fmt.Fprintf(w, "gobundle_serve_frame_bytes_peak %d\n", c.PeakHeld())
}
