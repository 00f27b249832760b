package bundle

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// DefaultCacheBytes bounds the decompressed frames a Reader keeps in memory.
const DefaultCacheBytes = 256 << 20

// Reader gives random access to an open bundle. Opening reads only the
// trailer and the index; reading a file decompresses only the frames that
// hold it, and every byte returned was checked against the index's sha256.
// A Reader is safe for concurrent use.
type Reader struct {
	name   string
	ra     io.ReaderAt
	closer io.Closer
	size   int64
	tr     trailer
	ix     *index
	sigs   []Signature // unverified, from the signature block
	cache  *FrameCache
	// decoding bounds concurrent frame decompressions.
	decoding chan struct{}
	// byPath maps a module path to its entries' range in ix.mods.
	byPath map[string][2]int
	// links are an incremental bundle's bases, by index in ix.bases,
	// once Link found them.
	links atomic.Pointer[[]*Reader]
	// sums finds a blob by content, for incremental bundles built on
	// this one.
	sumOnce sync.Once
	sums    map[Sum]uint32
	// zipTableErr is why DeflatedTable was dropped, if it was.
	zipTableErr error
	indexBytes  int64 // see IndexBytes
}

// Open opens the bundle file name.
func Open(ctx context.Context, name string) (*Reader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := NewReader(ctx, f, st.Size(), name)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads a bundle of the given size from ra; name is used in
// errors.
func NewReader(ctx context.Context, ra io.ReaderAt, size int64, name string) (*Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &Reader{name: name, ra: ra, size: size}
	if err := r.load(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

func (r *Reader) load(ctx context.Context) error {
	if r.size < headerSize+trailerSize {
		return fmt.Errorf("bundle truncated or not a gobundle file (%d bytes): %w", r.size, ErrCorrupt)
	}
	header := make([]byte, headerSize)
	if _, err := r.ra.ReadAt(header, 0); err != nil {
		return err
	}
	flags, err := checkHeader(header)
	if err != nil {
		return err
	}
	tb := make([]byte, trailerSize)
	if _, err := r.ra.ReadAt(tb, r.size-trailerSize); err != nil {
		return err
	}
	tr, err := decodeTrailer(tb, header, r.size)
	if err != nil {
		return err
	}
	r.tr = tr
	comp := make([]byte, tr.indexLen)
	if _, err := r.ra.ReadAt(comp, tr.indexOff); err != nil {
		return err
	}
	if sha256.Sum256(comp) != tr.indexSum {
		return fmt.Errorf("index checksum mismatch: %w", ErrCorrupt)
	}
	raw, err := decodeExact(ctx, comp, tr.indexRawLen)
	if err != nil {
		if isCtxErr(err) {
			return err
		}
		return fmt.Errorf("index does not decompress: %v: %w", err, ErrCorrupt)
	}
	ix, err := decodeIndex(raw, flags, tr.indexOff, r.size)
	if err != nil {
		return err
	}
	r.ix = ix
	if tr.sigLen > 0 {
		// decodeTrailer bounded sigLen.
		block := make([]byte, tr.sigLen)
		if _, err := r.ra.ReadAt(block, tr.sigOff); err != nil {
			return err
		}
		if r.sigs, err = decodeSigBlock(block); err != nil {
			return err
		}
	}
	r.cache = NewFrameCache(DefaultCacheBytes)
	r.decoding = make(chan struct{}, runtime.GOMAXPROCS(0))
	r.byPath = make(map[string][2]int)
	for i := 0; i < len(ix.mods); {
		j := i + 1
		for j < len(ix.mods) && ix.mods[j].path == ix.mods[i].path {
			j++
		}
		r.byPath[ix.mods[i].path] = [2]int{i, j}
		i = j
	}
	r.indexBytes = r.computeIndexBytes()
	return r.loadZipTable(ctx)
}

// SetCacheBytes sets how many bytes of decompressed frames the reader keeps.
func (r *Reader) SetCacheBytes(n int64) { r.cache.SetLimit(n) }

// Close releases the reader's resources, its frames in a shared cache
// too.
func (r *Reader) Close() error {
	r.cache.drop(r)
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// Name returns the name the bundle was opened with.
func (r *Reader) Name() string { return r.name }

// Digest returns the bundle's identity: the sha256 of its stored index,
// which in turn holds the sha256 of every frame and blob.
func (r *Reader) Digest() Sum { return r.tr.indexSum }

// Meta returns the bundle's metadata.
func (r *Reader) Meta() Meta { return r.ix.meta }

// Stats returns storage figures.
func (r *Reader) Stats() Stats {
	ix := r.ix
	s := Stats{
		FileSize:     r.size,
		IndexSize:    r.tr.indexLen,
		IndexRawSize: r.tr.indexRawLen,
		Frames:       len(ix.frames),
		Blobs:        ix.local,
		BaseBlobs:    len(ix.blobs) - ix.local,
		Bases:        len(ix.bases),
		Modules:      len(ix.mods),
		Extras:       len(ix.extras),
	}
	for _, f := range ix.frames {
		s.CompressedBytes += f.clen
	}
	for _, b := range ix.blobs[:ix.local] {
		s.BlobBytes += b.size
	}
	for _, b := range ix.blobs[ix.local:] {
		s.BaseBlobBytes += b.size
	}
	size := func(ref uint32) int64 {
		if ref == noBlob {
			return 0
		}
		return ix.blobs[ref].size
	}
	for i := range ix.mods {
		m := &ix.mods[i]
		s.LogicalBytes += size(m.info) + size(m.mod)
		switch m.zipKind {
		case zipRebuilt:
			for _, f := range m.files {
				s.LogicalBytes += size(f.blob)
			}
		case zipRaw:
			s.LogicalBytes += size(m.zipBlob)
		}
		if m.zipKind != zipNone {
			s.Zips++
			s.ZipBytes += m.servedZipSize()
			s.ZipStoredBytes += m.zipSize
			if m.deflSize != 0 {
				s.ZipsDeflated++
			}
			switch {
			case m.zipKind == zipRaw:
				s.ZipMirrorBytes += m.zipSize
				s.ZipsMirrorKnown++
				s.ZipsRaw++
			case m.mirrorSize != 0:
				s.ZipMirrorBytes += m.mirrorSize
				s.ZipsMirrorKnown++
			}
		}
	}
	for _, x := range ix.extras {
		s.LogicalBytes += size(x.blob)
	}
	return s
}

// servedZipSize is the size of the zip as served: deflated where the
// bundle records that form.
func (m *modEntry) servedZipSize() int64 {
	if m.deflSize != 0 {
		return m.deflSize
	}
	return m.zipSize
}

func (r *Reader) origin(i uint32) string {
	if i == 0 {
		return ""
	}
	return r.ix.origins[i-1]
}

func (r *Reader) module(m *modEntry) Module {
	out := Module{Path: m.path, Version: m.version, ModHash: m.modHash, ZipHash: m.zipHash}
	if m.info != noBlob {
		b := r.ix.blobs[m.info]
		out.Info = &FileInfo{Size: b.size, SHA256: b.sum, Origin: r.origin(m.infoOrigin)}
	}
	if m.mod != noBlob {
		b := r.ix.blobs[m.mod]
		out.Mod = &FileInfo{Size: b.size, SHA256: b.sum, Origin: r.origin(m.modOrigin)}
	}
	if m.zipKind != zipNone {
		out.Zip = &FileInfo{Size: m.zipSize, SHA256: m.zipSum, Origin: r.origin(m.zipOrigin)}
		out.ZipRaw = m.zipKind == zipRaw
		out.ZipFiles = len(m.files)
		out.ZipMirrorSize = m.mirrorSize
		if m.zipKind == zipRaw {
			out.ZipMirrorSize = m.zipSize
		}
		if m.deflSize != 0 {
			out.ZipStored = out.Zip
			out.Zip = &FileInfo{Size: m.deflSize, SHA256: m.deflSum, Origin: out.ZipStored.Origin}
		}
	}
	return out
}

// Modules returns every module version, sorted by path, then version.
func (r *Reader) Modules() []Module {
	out := make([]Module, len(r.ix.mods))
	for i := range r.ix.mods {
		out[i] = r.module(&r.ix.mods[i])
	}
	return out
}

// Versions returns the versions of module path the bundle holds, in
// semantic version order.
func (r *Reader) Versions(path string) []string {
	span, ok := r.byPath[path]
	if !ok {
		return nil
	}
	out := make([]string, 0, span[1]-span[0])
	for _, m := range r.ix.mods[span[0]:span[1]] {
		out = append(out, m.version)
	}
	return out
}

func (r *Reader) find(path, version string) *modEntry {
	span, ok := r.byPath[path]
	if !ok {
		return nil
	}
	mods := r.ix.mods[span[0]:span[1]]
	i := sort.Search(len(mods), func(i int) bool { return !versionLess(mods[i].version, version) })
	if i < len(mods) && mods[i].version == version {
		return &mods[i]
	}
	return nil
}

// Module returns the entry of path@version.
func (r *Reader) Module(path, version string) (Module, bool) {
	m := r.find(path, version)
	if m == nil {
		return Module{}, false
	}
	return r.module(m), true
}

// Extras returns the extra blobs, sorted by kind and name.
func (r *Reader) Extras() []Extra {
	out := make([]Extra, len(r.ix.extras))
	for i, x := range r.ix.extras {
		b := r.ix.blobs[x.blob]
		out[i] = Extra{Kind: x.kind, Name: x.name, Size: b.size, SHA256: b.sum, Origin: r.origin(x.origin)}
	}
	return out
}

// ReadExtra returns the content of an extra blob. A missing one wraps
// fs.ErrNotExist.
func (r *Reader) ReadExtra(ctx context.Context, kind, name string) ([]byte, error) {
	xs := r.ix.extras
	i := sort.Search(len(xs), func(i int) bool {
		return xs[i].kind > kind || (xs[i].kind == kind && xs[i].name >= name)
	})
	if i == len(xs) || xs[i].kind != kind || xs[i].name != name {
		return nil, fmt.Errorf("%s: %s %s: %w", r.name, kind, name, fs.ErrNotExist)
	}
	return r.blob(ctx, xs[i].blob, kind+" "+name)
}

// ReadExtras calls fn with the name and content of every extra of kind
// whose size is at most max, in the order their content is stored, so
// that each frame is decompressed once and the frame cache is neither
// filled nor emptied by a pass over thousands of small entries (a
// checksum database's tiles and records, read once when a bundle is
// served). data is valid only during fn; every byte was checked against
// the index's sha256.
func (r *Reader) ReadExtras(ctx context.Context, kind string, max int64, fn func(name string, data []byte) error) error {
	var xs []extraEntry
	for _, x := range r.ix.extras {
		if x.kind == kind && r.ix.blobs[x.blob].size <= max {
			xs = append(xs, x)
		}
	}
	sort.SliceStable(xs, func(i, j int) bool {
		a, b := r.ix.blobs[xs[i].blob], r.ix.blobs[xs[j].blob]
		if a.base != b.base {
			return a.base < b.base
		}
		return a.frame < b.frame || a.frame == b.frame && a.off < b.off
	})
	sr := &seqReader{r: r}
	defer sr.close()
	for _, x := range xs {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := sr.blob(ctx, x.blob, x.kind+" "+x.name)
		if err != nil {
			return err
		}
		if err := fn(x.name, data); err != nil {
			return err
		}
	}
	return nil
}

// ReadFile returns a whole module file (for zips, the rebuilt zip).
func (r *Reader) ReadFile(ctx context.Context, path, version string, kind FileKind) ([]byte, error) {
	f, err := r.OpenFile(ctx, path, version, kind)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, f.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}

// blob returns a copy of the verified content of blob i; entry names it
// in errors.
func (r *Reader) blob(ctx context.Context, i uint32, entry string) ([]byte, error) {
	out, _, err := r.blobSlice(ctx, i, entry)
	if err != nil {
		return nil, err
	}
	// A copy, so that a caller holding a blob (a zip being streamed) does
	// not keep its whole frame alive beyond the cache's bound.
	return bytes.Clone(out), nil
}

// blobSlice returns the verified content of blob i as a slice of its
// decompressed frame, which callers must not modify or keep; cached
// reports that the frame is in the cache, where reading it again costs
// no decompression. A blob's sha256 is checked once per decompression of
// its frame.
func (r *Reader) blobSlice(ctx context.Context, i uint32, entry string) (_ []byte, cached bool, _ error) {
	b := r.ix.blobs[i]
	if b.base != 0 {
		return r.baseBlob(ctx, b, entry)
	}
	fd, cached, err := r.frame(ctx, b.frame)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %s: %w", r.name, entry, err)
	}
	out := fd.data[b.off : b.off+b.size]
	if _, ok := fd.verified.Load(i); !ok {
		if sha256.Sum256(out) != b.sum {
			return nil, false, fmt.Errorf("%s: %s: content sha256 mismatch: %w", r.name, entry, ErrCorrupt)
		}
		fd.verified.Store(i, true)
	}
	return out, cached, nil
}

// frameData is a decompressed frame and the blobs of it checked so far.
type frameData struct {
	data     []byte
	verified sync.Map // blob index -> true
}

// frame returns the decompressed frame i, from the cache when possible.
func (r *Reader) frame(ctx context.Context, i uint32) (*frameData, bool, error) {
	// Reserved while it loads: the frame and its compressed bytes.
	f := r.ix.frames[i]
	return r.cache.get(ctx, frameKey{r, i}, f.ulen+f.clen, func() (*frameData, error) {
		data, _, err := r.loadFrame(ctx, i, nil, nil)
		if err != nil {
			return nil, err
		}
		return &frameData{data: data}, nil
	})
}

// loadFrame reads frame i, checks its stored sha256 and decompresses it,
// into comp's and out's memory when they are large enough (a zip being
// built reuses its buffers from frame to frame); it returns the frame and
// the compressed bytes' buffer.
func (r *Reader) loadFrame(ctx context.Context, i uint32, comp, out []byte) (data, compBuf []byte, err error) {
	// Bound the frames being decompressed at once: each needs a buffer
	// of the frame's size.
	select {
	case r.decoding <- struct{}{}:
	case <-ctx.Done():
		return nil, comp, ctx.Err()
	}
	defer func() { <-r.decoding }()
	comp, err = r.readStoredFrame(i, comp)
	if err != nil {
		return nil, comp, err
	}
	if sha256.Sum256(comp) != r.ix.frames[i].sum {
		return nil, comp, fmt.Errorf("frame %d: stored sha256 mismatch: %w", i, ErrCorrupt)
	}
	data, err = r.decodeFrame(ctx, i, comp, out)
	return data, comp, err
}

// readStoredFrame reads the compressed bytes of frame i, into buf if it
// is large enough.
func (r *Reader) readStoredFrame(i uint32, buf []byte) ([]byte, error) {
	f := r.ix.frames[i]
	comp := buf[:0]
	if int64(cap(comp)) < f.clen {
		comp = make([]byte, f.clen)
	}
	comp = comp[:f.clen]
	if _, err := r.ra.ReadAt(comp, f.off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("frame %d: bundle truncated: %w", i, ErrCorrupt)
		}
		return nil, fmt.Errorf("frame %d: %w", i, err)
	}
	return comp, nil
}

// decodeFrame decompresses frame i, whose stored bytes were checked, into
// dst if it is large enough.
func (r *Reader) decodeFrame(ctx context.Context, i uint32, comp, dst []byte) ([]byte, error) {
	out, err := decodeInto(ctx, comp, r.ix.frames[i].ulen, dst)
	if err != nil {
		if isCtxErr(err) {
			return nil, err
		}
		return nil, fmt.Errorf("frame %d: %v: %w", i, err, ErrCorrupt)
	}
	return out, nil
}

// decodeExact decompresses one zstd frame into exactly size bytes: its
// header must state that size (frames of up to 1 KiB may leave it out, as
// encoders do) and a window no larger, and decompression stops at that
// size, so a frame never costs more memory than the index (bounded when
// it was opened) says. It looks at ctx before and after the frame (a
// 64 MiB frame takes about a tenth of a second).
func decodeExact(ctx context.Context, comp []byte, size int64) ([]byte, error) {
	return decodeInto(ctx, comp, size, nil)
}

// decodeInto is decodeExact into dst's memory when it holds size bytes.
func decodeInto(ctx context.Context, comp []byte, size int64, dst []byte) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(comp); err != nil {
		return nil, err
	}
	limit := uint64(max(size, zstd.MinWindowSize))
	switch {
	case h.HasFCS && h.FrameContentSize != uint64(size), !h.HasFCS && size > zstd.MinWindowSize:
		return nil, fmt.Errorf("zstd header does not state the raw size %d the index records", size)
	case !h.SingleSegment && h.WindowSize > 2*limit:
		// The encoder rounds a small frame's window up to the next power
		// of two above its size (1024 bytes get a 2048-byte window).
		return nil, fmt.Errorf("zstd window of %d bytes is larger than the frame", h.WindowSize)
	case !h.SingleSegment:
		limit = max(limit, h.WindowSize)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// DecodeAll decodes into out, which also serves as the window: no
	// second buffer of the frame's size, as a streaming decoder would keep.
	zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(limit), zstd.WithDecoderMaxWindow(limit))
	if err != nil {
		return nil, err
	}
	defer zd.Close()
	if int64(cap(dst)) < size {
		dst = make([]byte, 0, size)
	}
	out, err := zd.DecodeAll(comp, dst[:0])
	switch {
	case err != nil:
		return nil, fmt.Errorf("decompressed to %d bytes, want %d (%v)", len(out), size, err)
	case int64(len(out)) > size:
		return nil, fmt.Errorf("decompresses to more than %d bytes", size)
	case int64(len(out)) < size:
		return nil, fmt.Errorf("decompressed to %d bytes, want %d", len(out), size)
	}
	return out, ctx.Err()
}

// FrameCache is an LRU of decompressed frames bounded by bytes, loading
// each frame once however many goroutines ask for it. Each Reader has its
// own unless it is given a shared one (Reader.ShareCache), so that one
// bound holds for the frames of many bundles together.
//
// # What the bound covers
//
// The bound is on every decompressed frame of its readers in memory, not
// only those kept: a frame being decompressed and one a zip build holds
// while it compresses the files in it (Reader.WriteZip) reserve their
// size first, evicting kept frames to make room, and wait while frames
// in flight already take the whole bound. So a twenty-bundle server at
// --memory 512 MiB holds at most 512 MiB of frames whatever its clients
// ask, where before each build and decompression held a frame of up to
// 64 MiB beyond it. A single frame larger than the whole bound goes
// through when nothing else is in flight.
type FrameCache struct {
	mu       sync.Mutex
	limit    int64
	used     int64         // bytes of frames kept
	reserved int64         // bytes of frames in flight, outside the LRU
	peak     int64         // high-water mark of used + reserved
	freed    chan struct{} // closed when reserved bytes are given back
	// spare is a frame buffer no one uses, kept (and counted in reserved)
	// for the next zip build or pass over extras: twenty bundles opened
	// one after the other, or zips built one after the other, then
	// allocate one 64 MiB buffer, not one each for the collector to find.
	spare []byte
	lru   *list.List // of *cacheEntry, most recent first
	byKey map[frameKey]*list.Element
	load  map[frameKey]*loadCall
}

// frameKey names frame id of reader r.
type frameKey struct {
	r  *Reader
	id uint32
}

type cacheEntry struct {
	key  frameKey
	data *frameData
}

type loadCall struct {
	done chan struct{}
	data *frameData
	err  error
}

// NewFrameCache returns a cache keeping at most limit bytes of
// decompressed frames.
func NewFrameCache(limit int64) *FrameCache {
	return &FrameCache{limit: limit, lru: list.New(), byKey: map[frameKey]*list.Element{}, load: map[frameKey]*loadCall{}}
}

// SetLimit changes the bound, evicting the least recently used frames
// that no longer fit.
func (c *FrameCache) SetLimit(n int64) {
	c.mu.Lock()
	c.limit = n
	c.evict()
	c.wakeLocked()
	c.mu.Unlock()
}

// Limit returns the bound.
func (c *FrameCache) Limit() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limit
}

// Used returns the bytes of frames kept.
func (c *FrameCache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Held returns the bytes of decompressed frames in memory that the bound
// covers: those kept and those in flight (being decompressed, or held by
// a zip build); PeakHeld is its high-water mark.
func (c *FrameCache) Held() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used + c.reserved
}

// PeakHeld returns the most bytes Held has reported since the cache was
// made.
func (c *FrameCache) PeakHeld() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak
}

// holdingKey marks a context whose goroutine already holds a reservation
// (a zip build reading a base bundle's blob): it must not wait for
// another, or two builds could each wait for the other's frame.
type holdingKey struct{}

// reserve takes n bytes of the bound for a frame about to be in memory
// outside the LRU, evicting kept frames to make room. It waits while
// frames in flight leave no room, unless nothing else is in flight (a
// frame larger than the bound still loads, alone) or ctx says its
// goroutine holds a reservation already.
func (c *FrameCache) reserve(ctx context.Context, n int64) error {
	c.mu.Lock()
	for c.reserved+n > c.limit && ctx.Value(holdingKey{}) == nil {
		if c.spare != nil {
			c.dropSpareLocked()
			continue
		}
		if c.reserved == 0 {
			break
		}
		if c.freed == nil {
			c.freed = make(chan struct{})
		}
		wait := c.freed
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.reserved += n
	c.evict()
	c.mu.Unlock()
	return nil
}

// takeSpare returns the spare frame buffer and the bytes reserved for it
// (now the caller's) if it holds size bytes, else nil, 0.
func (c *FrameCache) takeSpare(size int64) ([]byte, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spare == nil || int64(cap(c.spare)) < size {
		return nil, 0
	}
	b := c.spare
	c.spare = nil
	return b[:0], int64(cap(b))
}

// park keeps buf, whose capacity the caller had reserved, as the spare
// (the larger of it and the one there), giving back the rest.
func (c *FrameCache) park(buf []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spare != nil && cap(c.spare) >= cap(buf) {
		c.unreserveLocked(int64(cap(buf)))
		return
	}
	c.dropSpareLocked()
	c.spare = buf[:0]
}

func (c *FrameCache) dropSpareLocked() {
	if c.spare != nil {
		n := int64(cap(c.spare))
		c.spare = nil
		c.unreserveLocked(n)
	}
}

// unreserve gives back n bytes that reserve took.
func (c *FrameCache) unreserve(n int64) {
	c.mu.Lock()
	c.unreserveLocked(n)
	c.mu.Unlock()
}

func (c *FrameCache) unreserveLocked(n int64) {
	c.reserved -= n
	c.wakeLocked()
}

// wakeLocked lets the goroutines waiting in reserve look again.
func (c *FrameCache) wakeLocked() {
	if c.freed != nil {
		close(c.freed)
		c.freed = nil
	}
}

func (c *FrameCache) notePeak() {
	if h := c.used + c.reserved; h > c.peak {
		c.peak = h
	}
}

// get returns frame key, loading it (once for all who ask at the same
// time, within the bound: see reserve) when it is not cached; size is what
// loading it holds (the frame and its compressed bytes), and cached
// reports whether it is in the cache. A
// load given up because its caller's ctx ended is retried by the others.
func (c *FrameCache) get(ctx context.Context, key frameKey, size int64, load func() (*frameData, error)) (_ *frameData, cached bool, _ error) {
	for {
		c.mu.Lock()
		if e, ok := c.byKey[key]; ok {
			c.lru.MoveToFront(e)
			data := e.Value.(*cacheEntry).data
			c.mu.Unlock()
			return data, true, nil
		}
		if call, ok := c.load[key]; ok {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
			if isCtxErr(call.err) && ctx.Err() == nil {
				continue
			}
			return call.data, call.err == nil && call.data != nil && c.holds(key, call.data), call.err
		}
		call := &loadCall{done: make(chan struct{})}
		c.load[key] = call
		c.mu.Unlock()

		if call.err = c.reserve(ctx, size); call.err == nil {
			call.data, call.err = load()
		} else {
			size = 0
		}

		c.mu.Lock()
		delete(c.load, key)
		c.unreserveLocked(size) // kept, the frame counts as used instead
		cached = false
		if call.err == nil && int64(len(call.data.data)) <= c.limit {
			c.byKey[key] = c.lru.PushFront(&cacheEntry{key: key, data: call.data})
			c.used += int64(len(call.data.data))
			c.evict()
			_, cached = c.byKey[key]
		}
		c.mu.Unlock()
		close(call.done)
		return call.data, cached, call.err
	}
}

// peek returns frame key if the cache holds it, else nil; it loads nothing.
func (c *FrameCache) peek(key frameKey) *frameData {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cacheEntry).data
	}
	return nil
}

// holds reports whether the cache holds data as frame key.
func (c *FrameCache) holds(key frameKey, data *frameData) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	return ok && e.Value.(*cacheEntry).data == data
}

// drop removes the frames of r.
func (c *FrameCache) drop(r *Reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.byKey {
		if k.r == r {
			c.lru.Remove(e)
			delete(c.byKey, k)
			c.used -= int64(len(e.Value.(*cacheEntry).data.data))
		}
	}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// evict drops the least recently used frames until those kept and those
// in flight fit the bound; the caller holds c.mu.
func (c *FrameCache) evict() {
	if c.used+c.reserved > c.limit {
		c.dropSpareLocked() // an idle buffer goes before any kept frame
	}
	for c.used+c.reserved > c.limit && c.lru.Len() > 0 {
		e := c.lru.Back()
		ce := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.byKey, ce.key)
		c.used -= int64(len(ce.data.data))
	}
	c.notePeak()
}
