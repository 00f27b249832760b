package bundle

// CacheBytes returns the bound of the reader's frame cache (see
// SetCacheBytes).
func (r *Reader) CacheBytes() int64 { return r.cache.Limit() }

// ShareCache makes the reader keep its decompressed frames in c, which
// other readers share, so that one bound holds for all of them together
// (a frame is kept by whichever bundle it belongs to, least recently used
// first out). Call it before the first read; Close drops the reader's
// frames from c.
func (r *Reader) ShareCache(c *FrameCache) {
	if c != nil {
		r.cache = c
	}
}

// Cache returns the frame cache the reader uses (its own, or the one
// given to ShareCache).
func (r *Reader) Cache() *FrameCache { return r.cache }

// ShareDecoding makes the reader take its decompression slots from sem,
// which other readers share, so that concurrent frame decompressions are
// bounded across all of them (each costs a frame's decompressed size in
// memory while it runs) instead of per reader. Call it before the first
// read.
func (r *Reader) ShareDecoding(sem chan struct{}) {
	if sem != nil {
		r.decoding = sem
	}
}

// DecodeSlots returns the decompression slots the reader takes from (its
// own, or those given to ShareDecoding).
func (r *Reader) DecodeSlots() chan struct{} { return r.decoding }
