package bundle

import "unsafe"

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

// IndexBytes estimates the memory the reader's index takes (its tables of
// frames, blobs, modules, zip files and extras, with their strings),
// which stays for as long as the bundle is open: serve counts it against
// its --memory budget beside the frames. A real project's bundle of some
// 1,300 module versions and 50,000 files takes about 9 MB.
func (r *Reader) IndexBytes() int64 { return r.indexBytes }

// indexBytes computes IndexBytes once the index is loaded.
func (r *Reader) computeIndexBytes() int64 {
	ix := r.ix
	const mapEntry = 64 // a map entry with its key and value, roughly
	n := int64(len(ix.frames))*int64(unsafe.Sizeof(frameEntry{})) +
		int64(len(ix.blobs))*int64(unsafe.Sizeof(blobEntry{})) +
		int64(len(ix.mods))*int64(unsafe.Sizeof(modEntry{})) +
		int64(len(ix.extras))*int64(unsafe.Sizeof(extraEntry{})) +
		int64(len(r.byPath))*mapEntry
	for i := range ix.mods {
		m := &ix.mods[i]
		n += int64(len(m.path) + len(m.version) + len(m.modHash) + len(m.zipHash))
		n += int64(len(m.files)) * int64(unsafe.Sizeof(zipFile{}))
		for _, f := range m.files {
			n += int64(len(f.name))
		}
	}
	for _, x := range ix.extras {
		n += int64(len(x.kind) + len(x.name))
	}
	for _, s := range ix.origins {
		n += int64(len(s))
	}
	return n
}
