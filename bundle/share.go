package bundle

// CacheBytes returns the bound of the reader's frame cache (see
// SetCacheBytes).
func (r *Reader) CacheBytes() int64 {
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	return r.cache.limit
}

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
