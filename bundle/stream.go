package bundle

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/module"
)

// Streaming: a writer that knows which zips are still to come compresses
// content frames while the caller is still fetching, instead of all at the
// end.
//
// Content frames hold the files of module zips grouped by module path, in
// path order (see plan). A file's place is decided by the smallest key of
// the modules that hold it, so the group of path P is final once every
// .info and .mod has been added (one of them may hold the same bytes and
// take the file into a metadata frame) and every announced zip of a module
// path up to P has been added. The frames of final groups are cut with the
// rules of plan and compressed by background workers into a second spool;
// WriteTo takes them from there when its plan has the same frame (matched
// by the digests of the frame's blobs), so the bundle is byte-for-byte the
// one a writer without streaming makes. Whatever breaks those assumptions
// (a zip that was not announced, metadata added late) only makes WriteTo
// compress that frame itself.

// stagedZip is a zip read by PrepareZip before its module is added.
type stagedZip struct {
	file, sha string
	zc        *zipContent
}

// stream is the state of a writer after Expect.
type stream struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	// Guarded by the writer's mu.
	expect   []module.Version // sorted by path, then version
	expected map[module.Version]bool
	next     int      // expect[:next] have their zips added
	paths    []string // distinct paths of expect, sorted
	pathNext int      // the groups of paths[:pathNext] are cut
	groups   map[string]map[*wblob]struct{}
	pending  []*wblob // the cutter's open frame
	cut      cutter
	done     bool // every announced zip added, the last frame cut
	broken   bool // a final blob moved: stop streaming

	// Guarded by mu.
	mu     sync.Mutex
	frames *spool
	ready  map[string]readyFrame
}

type readyFrame struct {
	off, size int64
}

// PrepareZip reads and checks the zip of a module version ahead of
// AddModule (which then uses what it found, if given the same file) and
// returns its go.sum hash ("h1:..."). A caller that must verify the hash
// before adding the module thus inflates the zip once. zipSHA256 is as in
// [ModuleSource]. A prepared zip that is never added leaves no trace in
// the bundle. Every file of the zip is read to its end through
// archive/zip, which refuses a byte past the size a file's header declares
// and a wrong CRC-32 (or the analysis of the same bytes comes from the
// cache, made by such a read), after golang.org/x/mod/zip's checks of its
// names and declared sizes: the read can end the check of a zip just
// downloaded, which is then inflated once.
func (w *Writer) PrepareZip(ctx context.Context, path, version, file, zipSHA256 string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := module.Check(path, version); err != nil {
		return "", err
	}
	mv := module.Version{Path: path, Version: version}
	zc, err := w.analyseZip(ctx, mv, file, zipSHA256)
	if err != nil {
		// Not a fileError: the caller knows it is the zip, and says so
		// in its own words (the resolver: "zip: invalid module zip from
		// URL: ..." for one just downloaded).
		return "", &module.ModuleError{Path: path, Version: version, Err: err}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return "", errors.New("bundle writer is closed")
	}
	w.staged[mv] = &stagedZip{file: file, sha: zipSHA256, zc: zc}
	return zc.hash, nil
}

// stagedFor returns the prepared analysis of mv's zip file, if any, and
// forgets it.
func (w *Writer) stagedFor(mv module.Version, file, sha string) *zipContent {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.staged[mv]
	if s == nil || s.file != file || (s.sha != "" && sha != "" && s.sha != sha) {
		return nil
	}
	// Handed over once: the module keeps what it needs (its blobs), and
	// the analysis (a record per file of the zip) is not held for the
	// rest of the write, which on a union of large projects was 77 MB.
	delete(w.staged, mv)
	return s.zc
}

// Expect announces that every .info and .mod file has been added and that
// the zips of exactly the module versions zips (and no others) are still
// to be added, if they have not been already. From then on the writer
// compresses the frames of content that is complete in the background,
// with up to WriterOptions.Concurrency workers, and WriteTo has only the
// rest to do. Expect may be called once.
func (w *Writer) Expect(zips []module.Version) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("bundle writer is closed")
	}
	if w.st != nil {
		return errors.New("bundle writer: Expect called twice")
	}
	frames, err := newSpool(w.opts.TempDir, "gobundle-frames-*")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{
		ctx: ctx, cancel: cancel,
		sem:      make(chan struct{}, w.opts.Concurrency),
		expected: make(map[module.Version]bool, len(zips)),
		groups:   map[string]map[*wblob]struct{}{},
		frames:   frames,
		ready:    map[string]readyFrame{},
	}
	for _, m := range zips {
		if !s.expected[m] {
			s.expected[m] = true
			s.expect = append(s.expect, m)
		}
	}
	sort.Slice(s.expect, func(i, j int) bool {
		a, b := s.expect[i], s.expect[j]
		return a.Path < b.Path || (a.Path == b.Path && a.Version < b.Version)
	})
	for i, m := range s.expect {
		if i == 0 || m.Path != s.expect[i-1].Path {
			s.paths = append(s.paths, m.Path)
		}
	}
	s.cut = cutter{class: 1, target: int64(w.opts.FrameSize), emit: func(from, to int) {
		w.submitLocked(append([]*wblob(nil), s.pending[from:to]...))
	}}
	for mv, m := range w.mods {
		if m.zipKind != zipNone && !s.expected[mv] {
			s.broken = true // a zip nobody announced: its frames are WriteTo's
		}
	}
	for _, b := range w.blobs {
		if b.key.class == 1 && b.base == 0 {
			s.group(b.key.path)[b] = struct{}{}
		}
	}
	w.st = s
	w.advanceLocked()
	return nil
}

func (s *stream) group(path string) map[*wblob]struct{} {
	g := s.groups[path]
	if g == nil {
		g = map[*wblob]struct{}{}
		s.groups[path] = g
	}
	return g
}

// cutPath reports whether the group of path has been handed to the cutter.
func (s *stream) cutPath(path string) bool {
	return s.pathNext > 0 && path <= s.paths[s.pathNext-1]
}

// noteKeyLocked records that blob b (new when old is nil) has the key it
// has now; the caller holds w.mu.
func (w *Writer) noteKeyLocked(b *wblob, old *sortKey) {
	s := w.st
	if s == nil || s.broken {
		return
	}
	if b.final {
		s.broken = true
		return
	}
	if old != nil && old.class == 1 {
		delete(s.groups[old.path], b)
	}
	if b.key.class == 1 {
		if s.cutPath(b.key.path) {
			s.broken = true
			return
		}
		s.group(b.key.path)[b] = struct{}{}
	}
}

// noteZipLocked records that the zip of mv was added; the caller holds
// w.mu.
func (w *Writer) noteZipLocked(mv module.Version) {
	s := w.st
	if s == nil || s.broken {
		return
	}
	if !s.expected[mv] {
		s.broken = true
		return
	}
	w.advanceLocked()
}

// advanceLocked cuts the frames of every group that has become final.
func (w *Writer) advanceLocked() {
	s := w.st
	if s.broken || s.done {
		return
	}
	for s.next < len(s.expect) {
		m := w.mods[s.expect[s.next]]
		if m == nil || m.zipKind == zipNone {
			break
		}
		s.next++
	}
	all := s.next == len(s.expect)
	for s.pathNext < len(s.paths) && (all || s.paths[s.pathNext] < s.expect[s.next].Path) {
		p := s.paths[s.pathNext]
		s.pathNext++
		g := s.groups[p]
		delete(s.groups, p)
		blobs := make([]*wblob, 0, len(g))
		for b := range g {
			b.final = true
			blobs = append(blobs, b)
		}
		sortBlobs(blobs)
		i := len(s.pending)
		s.pending = append(s.pending, blobs...)
		s.cut.group(s.pending, i, len(s.pending))
		if s.cut.start > 0 {
			s.pending = append(s.pending[:0:0], s.pending[s.cut.start:]...)
			s.cut.next -= s.cut.start
			s.cut.start = 0
		}
	}
	if all {
		s.cut.cut()
		s.pending = nil
		s.done = true
	}
}

// submitLocked compresses a frame in the background; the caller holds w.mu.
func (w *Writer) submitLocked(blobs []*wblob) {
	s := w.st
	src := sourcesOf(blobs)
	var size int64
	for _, b := range src {
		size += b.size
	}
	key := w.frameKey(blobs)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		defer func() { <-s.sem }()
		if w.hasCachedFrame(key) {
			return // WriteTo reads it from the cache
		}
		comp, err := w.encodeFrame(s.ctx, src, size)
		if err != nil {
			return // WriteTo compresses the frame again and reports the error
		}
		w.framesCompressed.Add(1)
		w.storeFrame(key, comp)
		s.mu.Lock()
		defer s.mu.Unlock()
		if off, err := s.frames.Append(comp); err == nil {
			s.ready[key] = readyFrame{off: off, size: int64(len(comp))}
		}
	}()
}

// streamedFrame returns the frame the stream compressed under key, or nil.
func (w *Writer) streamedFrame(key string) []byte {
	s := w.st
	if s == nil {
		return nil
	}
	s.mu.Lock()
	r, ok := s.ready[key]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	comp := make([]byte, r.size)
	if err := s.frames.ReadAt(comp, r.off); err != nil {
		return nil
	}
	return comp
}

// waitStream waits for the frames in flight.
// If ctx is done first, it stops the stream's workers (frames not yet
// compressed are WriteTo's again) and returns ctx's error.
func (w *Writer) waitStream(ctx context.Context) error {
	s := w.st
	if s == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancel()
		return ctx.Err()
	}
}

// stopStream stops the stream's workers and removes its spool.
func (w *Writer) stopStream() {
	if s := w.st; s != nil {
		s.cancel()
		s.wg.Wait()
		s.frames.Close()
	}
}

// window is the zstd window content frames are compressed with.
func (w *Writer) window() int {
	window := 1
	for window < w.opts.FrameSize {
		window <<= 1
	}
	return max(window, zstd.MinWindowSize)
}

// encoder returns one of the writer's Concurrency encoders, waiting for
// one to be free.
func (w *Writer) encoder(ctx context.Context) (*zstd.Encoder, error) {
	w.encMu.Lock()
	if w.encoders == nil {
		w.encoders = make(chan *zstd.Encoder, w.opts.Concurrency)
	}
	if w.encCreated < w.opts.Concurrency {
		select {
		case enc := <-w.encoders:
			w.encMu.Unlock()
			return enc, nil
		default:
		}
		w.encCreated++
		w.encMu.Unlock()
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(w.opts.Level), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(w.window()), zstd.WithEncoderCRC(true), zstd.WithZeroFrames(true), zstd.WithLowerEncoderMem(true))
	}
	ch := w.encoders
	w.encMu.Unlock()
	select {
	case enc := <-ch:
		return enc, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// encodeFrame compresses the content of a frame, size bytes from src,
// with one of the writer's encoders. The content streams through the
// encoder from the spool and the zips, so a worker holds the encoder's
// window and the compressed frame, never the frame's raw content too
// (which made the peak memory of a create grow by a frame per worker).
// It stops between chunks once ctx is done.
func (w *Writer) encodeFrame(ctx context.Context, src []blobSource, size int64) ([]byte, error) {
	enc, err := w.encoder(ctx)
	if err != nil {
		return nil, err
	}
	defer w.releaseEncoder(enc)
	if size == 0 {
		return enc.EncodeAll(nil, nil), nil
	}
	var out bytes.Buffer
	out.Grow(int(min(size/4, 16<<20)) + 64)
	// The header states the raw size, as readers require (decodeExact).
	enc.ResetContentSize(&out, size)
	if err := w.copyFrameContent(ctx, enc, src); err != nil {
		enc.Reset(nil)
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (w *Writer) releaseEncoder(enc *zstd.Encoder) {
	w.encoders <- enc
}

// closeEncoders releases the encoders' memory.
func (w *Writer) closeEncoders() {
	w.encMu.Lock()
	defer w.encMu.Unlock()
	for w.encCreated > 0 {
		select {
		case enc := <-w.encoders:
			enc.Close()
			w.encCreated--
		default:
			return // in use: the garbage collector takes it
		}
	}
}
