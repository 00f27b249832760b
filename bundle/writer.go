package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	modzip "golang.org/x/mod/zip"

	"github.com/gobundle/gobundle/internal/fsutil"
)

// Frame size targets. Content frames are large because versions of the same
// file compress against each other only within a frame (see docs/FORMAT.md
// for the measurements behind the choice); .info and .mod files, which the
// go command asks for by the hundred, sit in small frames of their own.
const (
	DefaultFrameSize = 64 << 20
	metaFrameSize    = 1 << 20
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	Tool       string    // recorded in the metadata, e.g. "gobundle v1.2.3"
	Created    time.Time // zero means the fixed time 1970-01-01T00:00:00Z
	Inputs     []string
	Mirrors    []string
	Properties []Property

	TempDir     string // for the spool of unique content; "" means os.TempDir()
	Concurrency int    // compression workers; 0 means GOMAXPROCS
	FrameSize   int    // content frame target; 0 means DefaultFrameSize
	// Level is the zstd level; 0 means zstd.SpeedBestCompression.
	Level    zstd.EncoderLevel
	Progress func(Event)
	// RawZips stores each module zip as the mirror served it, one blob,
	// instead of as its files (rebuilt on read): writing costs a fraction
	// (no file is spooled, hashed or compressed; the zip is only checked
	// and its h1: computed), for a larger bundle, since deflated zips
	// neither compress further nor share files across versions.
	RawZips bool
	// CacheDir, if set, caches compressed frames (keyed by the sha256 of
	// their blobs' digests and the compression settings) and each zip's
	// file analysis (keyed by the zip file's sha256), so that writing the
	// same content again reads no zip content and compresses nothing.
	CacheDir string
	// Bases, if any, make the bundle incremental: module versions and
	// extras a base holds with the same content are left out, and content
	// a base holds (down to the files inside zips) is referred to by the
	// base's bundle digest instead of stored. The bases' readers must
	// stay open until the bundle is written.
	Bases []*Reader
	// Signers sign the bundle as it is written (see SignFile): each adds
	// one signature to the signature block, leaving the digest as it
	// would be unsigned.
	Signers []note.Signer
	// NoDeflate leaves out the table of deflated zips (docs/FORMAT.md,
	// "Zips as served"): zips are then served with stored entries, as
	// from bundles written before that table existed. It saves create
	// deflating every zip once (about half a minute of one core per
	// 1.4 GB of zip content).
	NoDeflate bool
}

// ModuleSource is one module version handed to a Writer.
type ModuleSource struct {
	Path, Version         string
	Info, Mod             []byte // nil when absent
	InfoOrigin, ModOrigin string
	ZipFile               string // path of the module zip on disk, "" when absent
	ZipOrigin             string
	// ZipSHA256 is the hex sha256 of the zip file's bytes, if the caller
	// knows it: it keys the zip analysis cache (see WriterOptions.CacheDir).
	ZipSHA256 string
	// ZipHash is the zip's h1: hash if the caller already has it; the
	// writer still computes its own and refuses a zip whose hash differs.
	ZipHash string
}

// ExtraSource is one extra blob handed to a Writer.
type ExtraSource struct {
	Kind, Name string
	Data       []byte
	Origin     string
}

// Writer collects module versions and extras and writes a bundle. Unique
// content is spooled to a temporary file, so memory stays small whatever
// the bundle's size. AddModule and AddExtra are safe for concurrent use.
type Writer struct {
	opts WriterOptions

	mu     sync.Mutex
	spool  *spool
	blobs  map[Sum]*wblob
	mods   map[module.Version]*wmod
	extras map[[2]string]*wextra
	closed bool
	// spooled finds content already in the spool, added or only prepared.
	spooled map[Sum]int64
	staged  map[module.Version]*stagedZip
	st      *stream  // set by Expect
	bases   *baseSet // nil unless incremental

	// zipMem bounds the memory of the zips being read (readZip), and
	// bufs keeps the buffers they read into.
	zipMem *readBudget
	bufs   bufPool

	encMu      sync.Mutex
	encoders   chan *zstd.Encoder
	encCreated int

	// zipsRead and framesCompressed count work the cache did not save.
	zipsRead, framesCompressed atomic.Int64
}

// sortKey orders blobs in the data section: by class, then module path,
// then file name, then version, so that versions of one file sit side by side.
type sortKey struct {
	class      uint8 // 0 info/mod, 1 zip content, 2 extras
	path, name string
	version    string
}

func keyLess(a, b sortKey) bool {
	if a.class != b.class {
		return a.class < b.class
	}
	if a.path != b.path {
		return a.path < b.path
	}
	if a.name != b.name {
		return a.name < b.name
	}
	return versionLess(a.version, b.version)
}

// sortBlobs puts blobs in data-section order: by key, then digest.
func sortBlobs(blobs []*wblob) {
	sort.Slice(blobs, func(i, j int) bool {
		a, b := blobs[i], blobs[j]
		if keyLess(a.key, b.key) {
			return true
		}
		if keyLess(b.key, a.key) {
			return false
		}
		return bytes.Compare(a.sum[:], b.sum[:]) < 0
	})
}

type wblob struct {
	sum      Sum
	size     int64
	crc      uint32
	spoolOff int64 // -1: read lazily from zipPath
	zipPath  string
	zipIndex int
	key      sortKey
	index    uint32 // final position, set by WriteFile
	final    bool   // in a frame the stream has cut
	base     uint32 // 1 + the base (in baseSet order) holding it; never stored
}

type wfile struct {
	name string
	blob *wblob
}

type wmod struct {
	path, version         string
	info, mod             *wblob
	infoOrigin, modOrigin string
	modHash               string
	zipKind               uint8
	zipHash, zipOrigin    string
	zipSize               int64
	zipSum                Sum
	zipBlob               *wblob
	files                 []wfile
	mirrorSize, deflSize  int64 // for DeflatedTable
	deflSum               Sum
}

type wextra struct {
	kind, name, origin string
	blob               *wblob
}

// NewWriter returns a Writer; Close it to remove its spool.
func NewWriter(opts WriterOptions) (*Writer, error) {
	if opts.FrameSize <= 0 {
		opts.FrameSize = DefaultFrameSize
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = runtime.GOMAXPROCS(0)
	}
	if opts.Level == 0 {
		opts.Level = zstd.SpeedBestCompression
	}
	spool, err := newSpool(opts.TempDir, "gobundle-spool-*")
	if err != nil {
		return nil, fmt.Errorf("creating spool: %w", err)
	}
	var bases *baseSet
	if len(opts.Bases) > 0 {
		var err error
		if bases, err = newBaseSet(opts.Bases); err != nil {
			return nil, err
		}
	}
	return &Writer{
		bases:   bases,
		opts:    opts,
		spool:   spool,
		blobs:   map[Sum]*wblob{},
		mods:    map[module.Version]*wmod{},
		extras:  map[[2]string]*wextra{},
		spooled: map[Sum]int64{},
		staged:  map[module.Version]*stagedZip{},
		zipMem:  newReadBudget(zipReadBudget),
	}, nil
}

// Close removes the writer's spool. It is safe to call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.stopStream()
	w.closeEncoders()
	return w.spool.Close()
}

// content is data with its digests, computed before taking w.mu. When
// data is nil the content is read lazily, only if a frame that holds it
// must be compressed: from entry zipIndex of the zip file zipPath, or the
// whole file when zipIndex is -1.
type content struct {
	data     []byte
	sum      Sum
	crc      uint32
	size     int64
	spooled  bool // data is in the spool at spoolOff
	spoolOff int64
	zipPath  string
	zipIndex int
}

func newContent(data []byte) content {
	return content{data: data, sum: sha256.Sum256(data), crc: crc32.ChecksumIEEE(data), size: int64(len(data))}
}

// addBlob stores c once and returns its blob; the caller holds w.mu.
func (w *Writer) addBlob(c content, key sortKey) (*wblob, error) {
	if b, ok := w.blobs[c.sum]; ok && b.base != 0 {
		return b, nil
	} else if ok {
		if keyLess(key, b.key) {
			old := b.key
			b.key = key
			w.noteKeyLocked(b, &old)
		}
		if b.spoolOff < 0 {
			// Prefer content at hand to a lazy read.
			switch {
			case c.spooled:
				b.spoolOff = c.spoolOff
			case c.data != nil:
				if err := w.spoolBlob(b, c.data); err != nil {
					return nil, err
				}
			}
		}
		return b, nil
	}
	if w.closed {
		return nil, errors.New("bundle writer is closed")
	}
	b := &wblob{sum: c.sum, size: c.size, crc: c.crc, spoolOff: -1, zipPath: c.zipPath, zipIndex: c.zipIndex, key: key}
	if k := w.bases.holds(c.sum); k != 0 {
		// A base holds it: referred to, never stored, in no frame.
		b.base = k
		w.blobs[c.sum] = b
		return b, nil
	}
	if c.spooled {
		b.spoolOff = c.spoolOff
	} else if c.data != nil {
		if err := w.spoolBlob(b, c.data); err != nil {
			return nil, err
		}
	}
	w.blobs[c.sum] = b
	w.noteKeyLocked(b, nil)
	return b, nil
}

func (w *Writer) spoolBlob(b *wblob, data []byte) error {
	if off, ok := w.spooled[b.sum]; ok {
		b.spoolOff = off
		return nil
	}
	off, err := w.spool.Append(data)
	if err != nil {
		return err
	}
	b.spoolOff = off
	w.spooled[b.sum] = off
	return nil
}

// goModHash is the go.sum hash of a go.mod file (the "/go.mod" line).
func goModHash(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// AddModule adds one module version. It checks the .info against the
// version, the zip with golang.org/x/mod/zip rules, and computes both go.sum
// hashes. Adding the same module version twice is allowed only with
// identical content.
func (w *Writer) AddModule(ctx context.Context, src ModuleSource) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mv := module.Version{Path: src.Path, Version: src.Version}
	if err := module.Check(src.Path, src.Version); err != nil {
		return err
	}
	if src.Info == nil && src.Mod == nil && src.ZipFile == "" {
		return &module.ModuleError{Path: src.Path, Version: src.Version, Err: errors.New("no files to add")}
	}
	if src.ZipFile != "" && src.Mod == nil {
		return &module.ModuleError{Path: src.Path, Version: src.Version, Err: &fileError{KindZip, errors.New("zip without its .mod file")}}
	}
	if src.Info != nil {
		if err := checkInfo(src.Info, src.Version); err != nil {
			return &module.ModuleError{Path: src.Path, Version: src.Version, Err: &fileError{KindInfo, err}}
		}
	}
	var modHash string
	if src.Mod != nil {
		h, err := goModHash(src.Mod)
		if err != nil {
			return &module.ModuleError{Path: src.Path, Version: src.Version, Err: &fileError{KindMod, err}}
		}
		modHash = h
	}
	var zc *zipContent
	if src.ZipFile != "" {
		var err error
		if zc = w.stagedFor(mv, src.ZipFile, src.ZipSHA256); zc == nil {
			zc, err = w.analyseZip(ctx, mv, src.ZipFile, src.ZipSHA256)
		}
		if err == nil && src.ZipHash != "" && src.ZipHash != zc.hash {
			err = fmt.Errorf("h1 hash %s, caller says %s", zc.hash, src.ZipHash)
		}
		if err != nil {
			return &module.ModuleError{Path: src.Path, Version: src.Version, Err: &fileError{KindZip, err}}
		}
	}

	return w.addModule(src, modHash, zc)
}

// addModule stores a checked module version: src's .info and .mod, its
// go.mod hash and its zip's content.
func (w *Writer) addModule(src ModuleSource, modHash string, zc *zipContent) error {
	mv := module.Version{Path: src.Path, Version: src.Version}
	m := &wmod{path: src.Path, version: src.Version}
	var info, mod *content
	if src.Info != nil {
		c := newContent(src.Info)
		info = &c
	}
	if src.Mod != nil {
		c := newContent(src.Mod)
		mod = &c
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.mods[mv]
	if old != nil {
		// A module version added twice must agree file by file; check
		// before storing anything so a refused copy leaves no blobs.
		fail := func(kind string) error {
			return &module.ModuleError{Path: src.Path, Version: src.Version, Err: fmt.Errorf("added twice with different %s content", kind)}
		}
		switch {
		case old.info != nil && info != nil && old.info.sum != info.sum:
			return fail(".info")
		case old.mod != nil && mod != nil && old.mod.sum != mod.sum:
			return fail(".mod")
		case old.zipKind != zipNone && zc != nil && old.zipHash != zc.hash:
			return fail(".zip")
		}
		m = old
	}
	meta := func(kind string) sortKey { return sortKey{class: 0, path: src.Path, version: src.Version, name: kind} }
	var err error
	if info != nil && m.info == nil {
		if m.info, err = w.addBlob(*info, meta("info")); err != nil {
			return err
		}
		m.infoOrigin = src.InfoOrigin
	}
	if mod != nil && m.mod == nil {
		if m.mod, err = w.addBlob(*mod, meta("mod")); err != nil {
			return err
		}
		m.modOrigin, m.modHash = src.ModOrigin, modHash
	}
	if zc != nil && m.zipKind == zipNone {
		m.zipHash, m.zipOrigin = zc.hash, src.ZipOrigin
		if err := w.addZip(m, zc); err != nil {
			return err
		}
		w.mods[mv] = m
		w.noteZipLocked(mv)
		return nil
	}
	w.mods[mv] = m
	return nil
}

// fileError marks which file of a module version an error is about.
type fileError struct {
	kind FileKind
	err  error
}

func (e *fileError) Error() string { return "." + e.kind.String() + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// fileKindOf returns the file kind an AddModule error is about, or 0.
func fileKindOf(err error) FileKind {
	var fe *fileError
	if errors.As(err, &fe) {
		return fe.kind
	}
	return 0
}

// checkInfo checks that an .info file is a JSON object naming version.
func checkInfo(data []byte, version string) error {
	var info struct{ Version string }
	if err := json.Unmarshal(data, &info); err != nil {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	if info.Version != version {
		return fmt.Errorf("names version %q", info.Version)
	}
	return nil
}

// zipContent is a module zip read into memory file by file.
type zipContent struct {
	hash  string
	raw   *content // set when the zip can't be rebuilt and is kept as is
	names []string
	files []content
	size  int64 // of the rebuilt zip
	sum   Sum   // of the rebuilt zip
	// deflSize and deflSum are the deflated zip's (0 when not made);
	// mirrorSize is the size of the zip file read.
	deflSize, mirrorSize int64
	deflSum              Sum
}

// readZip checks a module zip and reads its files one at a time, spooling
// each as it goes, so memory holds one file, not the whole zip.
//
// The files are read in the order dirhash.Hash1 asks for them (sorted by
// name), each once: the go.sum hash, the content digests and the spool are
// all fed from that one inflate. The rebuilt zip lists its files in that
// order too.
func (w *Writer) readZip(ctx context.Context, mv module.Version, name string) (*zipContent, error) {
	cf, err := modzip.CheckZip(mv, name)
	if err != nil {
		return nil, oneLine(err)
	}
	if err := cf.Err(); err != nil {
		return nil, oneLine(err)
	}
	if w.opts.RawZips {
		return rawZip(ctx, name)
	}
	release, err := w.zipMem.acquire(ctx, 0)
	if err != nil {
		return nil, err
	}
	defer func() { release() }()
	zr, err := zip.OpenReader(name)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	useFastInflate(&zr.Reader)
	largest := largestFile(zr)
	if release, err = w.zipMem.grow(ctx, release, readZipMemory(largest)); err != nil {
		return nil, err
	}
	prefix := zipPrefix(mv.Path, mv.Version)
	full, byName, err := zipFileNames(zr, prefix)
	if err != nil {
		return nil, err
	}
	zc := &zipContent{}
	if st, err := os.Stat(name); err == nil {
		zc.mirrorSize = st.Size()
	}
	sums := zipSums{zip: sha256.New(), buf: w.bufs.get(largest)}
	defer func() { w.bufs.put(sums.buf) }()
	if !w.opts.NoDeflate {
		sums.defl = newDeflatedSum()
		sums.defl.comp.b = w.bufs.get(largest)
		defer func() { w.bufs.put(sums.defl.comp.b) }()
	}
	zc.hash, err = dirhash.Hash1(full, func(n string) (io.ReadCloser, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		i, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("file %s: not in the zip", n)
		}
		return w.readZipFile(zr.File[i], i, prefix, zc, &sums)
	})
	if err != nil {
		return nil, err
	}
	return finishZip(mv, name, zc, &sums)
}

// zipSums are the digests readZip feeds from each file's one inflate,
// and the buffer each file is inflated into in turn.
type zipSums struct {
	zip  hash.Hash    // of the rebuilt zip; its local headers need only name, CRC and size
	defl *deflatedSum // of the deflated zip; nil without deflated zips
	buf  []byte       // as large as the zip's largest file
}

// largestFile returns the largest size a file of zr declares, which
// golang.org/x/mod/zip's checks bound (modzip.MaxZipFile).
func largestFile(zr *zip.ReadCloser) int {
	var n uint64
	for _, zf := range zr.File {
		n = max(n, zf.UncompressedSize64)
	}
	return int(min(n, modzip.MaxZipFile))
}

// readZipMemory is what reading the files of a zip whose largest file has
// largest bytes holds beyond the fixed part every read holds: that file
// inflated, and as much again for the deflated copy its deflated zip's
// digest needs.
func readZipMemory(largest int) int64 {
	return 2 * int64(largest)
}

// zipFileNames checks that every file of zr is below prefix and listed
// once, and returns the names in zip order with each one's index.
func zipFileNames(zr *zip.ReadCloser, prefix string) ([]string, map[string]int, error) {
	full := make([]string, len(zr.File))
	byName := make(map[string]int, len(zr.File))
	for i, zf := range zr.File {
		if _, ok := splitZipName(zf.Name, prefix); !ok {
			return nil, nil, fmt.Errorf("file %s is outside %s", zf.Name, prefix)
		}
		if _, dup := byName[zf.Name]; dup {
			return nil, nil, fmt.Errorf("file %s appears twice", zf.Name)
		}
		full[i] = zf.Name
		byName[zf.Name] = i
	}
	return full, byName, nil
}

// readZipFile inflates zf (file i of its zip) once, feeds sums, spools it
// and adds it to zc, and returns its bytes for dirhash.Hash1.
func (w *Writer) readZipFile(zf *zip.File, i int, prefix string, zc *zipContent, sums *zipSums) (io.ReadCloser, error) {
	rel, _ := splitZipName(zf.Name, prefix)
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", zf.Name, err)
	}
	data, err := readExactly(rc, sums.buf, zf.UncompressedSize64)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", zf.Name, err)
	}
	c := newContent(data)
	c.zipIndex = i
	sums.zip.Write(localHeader(zf.Name, c.crc, c.size))
	sums.zip.Write(data)
	if sums.defl != nil {
		if err := sums.defl.add(zf.Name, data, c.crc); err != nil {
			return nil, err
		}
	}
	if err := w.spoolContent(&c); err != nil {
		return nil, err
	}
	zc.names = append(zc.names, rel)
	zc.files = append(zc.files, c)
	return io.NopCloser(bytes.NewReader(data)), nil
}

// readExactly reads the size bytes of rc into buf (whose capacity holds
// them) and checks that rc ends there: archive/zip reports a file longer
// than its header says, or with a wrong CRC-32, only at its end. The
// bytes are valid until the next call with buf.
func readExactly(rc io.Reader, buf []byte, size uint64) ([]byte, error) {
	if size > uint64(cap(buf)) {
		return nil, fmt.Errorf("declares %d bytes, more than the largest file of its zip", size)
	}
	data := buf[:size]
	if _, err := io.ReadFull(rc, data); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = zip.ErrFormat
		}
		return nil, err
	}
	// Read on to the end, where archive/zip checks the CRC-32 (an error
	// it met on the last bytes io.ReadFull leaves out; it repeats it).
	more, err := io.ReadAll(io.LimitReader(rc, 1))
	if err != nil {
		return nil, err
	}
	if len(more) > 0 {
		return nil, zip.ErrFormat
	}
	return data, nil
}

// finishZip lays out the rebuilt zip of zc's files and completes its
// sums; a zip a plain zip can't hold keeps the original bytes of file
// name instead.
func finishZip(mv module.Version, name string, zc *zipContent, sums *zipSums) (*zipContent, error) {
	entry := &modEntry{path: mv.Path, version: mv.Version}
	blobs := make([]blobEntry, len(zc.files))
	for i, c := range zc.files {
		entry.files = append(entry.files, zipFile{name: zc.names[i], blob: uint32(i)})
		blobs[i] = blobEntry{size: c.size, crc: c.crc}
	}
	size, err := zipLayoutSize(entry, blobs)
	if err != nil {
		// A plain zip can't hold this: keep the original bytes.
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		c := newContent(raw)
		zc.raw, zc.names, zc.files = &c, nil, nil
		return zc, nil
	}
	entry.zipSize = size
	sums.zip.Write(newZipLayout(entry, blobs).centralDirectory())
	zc.size = size
	copy(zc.sum[:], sums.zip.Sum(nil))
	if sums.defl != nil {
		if zc.deflSize, zc.deflSum, err = sums.defl.result(); err != nil {
			return nil, err
		}
	}
	return zc, nil
}

// rawZip describes the zip file name as one blob, read lazily, and
// computes its go.sum hash.
func rawZip(ctx context.Context, name string) (*zipContent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := dirhash.HashZip(name, dirhash.Hash1)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sh, crc := sha256.New(), crc32.NewIEEE()
	n, err := io.Copy(io.MultiWriter(sh, crc), f)
	if err != nil {
		return nil, err
	}
	c := content{size: n, crc: crc.Sum32(), zipPath: name, zipIndex: -1}
	copy(c.sum[:], sh.Sum(nil))
	return &zipContent{hash: h, raw: &c}, nil
}

// spoolContent writes c's data to the spool unless the same content is
// there already, and drops the data: the spool holds it from now on.
//
// The append (and the write of the spool's buffer it may make) runs
// outside w.mu, under the spool's own lock: zips are read several at a
// time, and holding w.mu there made them queue behind one another's disk
// writes (26 of them at once on hugo), leaving processors idle. Two
// readers may so spool the same content; the first offset recorded wins
// and the other copy is never read.
func (w *Writer) spoolContent(c *content) error {
	w.mu.Lock()
	off, ok := w.spooled[c.sum]
	w.mu.Unlock()
	if !ok {
		var err error
		if off, err = w.spool.Append(c.data); err != nil {
			return err
		}
		w.mu.Lock()
		if first, ok := w.spooled[c.sum]; ok {
			off = first
		} else {
			w.spooled[c.sum] = off
		}
		w.mu.Unlock()
	}
	c.spoolOff, c.spooled, c.data = off, true, nil
	return nil
}

// oneLine folds a multi-line error (x/mod/zip lists one problem a line)
// into its first line and a count of the rest.
func oneLine(err error) error {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	if len(lines) == 1 {
		return err
	}
	return fmt.Errorf("%s (and %d more problems)", lines[0], len(lines)-1)
}

// addZip stores a zip's files (or its raw bytes); the caller holds w.mu.
func (w *Writer) addZip(m *wmod, zc *zipContent) error {
	if zc.raw != nil {
		b, err := w.addBlob(*zc.raw, sortKey{class: 1, path: m.path, name: "\xff", version: m.version})
		if err != nil {
			return err
		}
		m.zipKind, m.zipBlob, m.zipSize, m.zipSum = zipRaw, b, b.size, b.sum
		return nil
	}
	m.zipKind, m.zipSize, m.zipSum = zipRebuilt, zc.size, zc.sum
	m.mirrorSize, m.deflSize, m.deflSum = zc.mirrorSize, zc.deflSize, zc.deflSum
	for i, name := range zc.names {
		b, err := w.addBlob(zc.files[i], sortKey{class: 1, path: m.path, name: name, version: m.version})
		if err != nil {
			return err
		}
		m.files = append(m.files, wfile{name: name, blob: b})
	}
	return nil
}

// AddExtra adds an extra blob.
func (w *Writer) AddExtra(ctx context.Context, x ExtraSource) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if x.Kind == "" || x.Name == "" || len(x.Kind) > maxStringLen || len(x.Name) > maxStringLen {
		return fmt.Errorf("extra %q %q: kind and name must be non-empty and short", x.Kind, x.Name)
	}
	if x.Kind == ExtraKindZips {
		// The writer makes its own from the modules it holds.
		return nil
	}
	key := [2]string{x.Kind, x.Name}
	c := newContent(x.Data)
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.extras[key]; ok {
		if old.blob.sum != c.sum {
			return fmt.Errorf("extra %s %s added twice with different content", x.Kind, x.Name)
		}
		return nil
	}
	b, err := w.addBlob(c, sortKey{class: 2, path: x.Kind, name: x.Name})
	if err != nil {
		return err
	}
	w.extras[key] = &wextra{kind: x.Kind, name: x.Name, origin: x.Origin, blob: b}
	return nil
}

// Describe replaces the inputs, mirrors and properties of WriterOptions,
// for a caller that learns them while it adds modules. It must be called
// before WriteTo or WriteFile.
func (w *Writer) Describe(inputs, mirrors []string, props []Property) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opts.Inputs = append([]string(nil), inputs...)
	w.opts.Mirrors = append([]string(nil), mirrors...)
	w.opts.Properties = append([]Property(nil), props...)
}

// Len returns the number of module versions added so far.
func (w *Writer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.mods)
}

// WriteFile writes the bundle to name through a temporary file in the same
// directory, renamed into place only when complete.
func (w *Writer) WriteFile(ctx context.Context, name string) (Stats, error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	// A writer killed before it could clean up left its temporary file.
	fsutil.RemoveStaleTemps(dir, "."+base+".tmp")
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return Stats{}, fmt.Errorf("writing %s: %w", name, err)
	}
	fsutil.LockTemp(tmp)
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := w.WriteTo(ctx, tmp); err != nil {
		return Stats{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Stats{}, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return Stats{}, err
	}
	if err := tmp.Close(); err != nil {
		return Stats{}, err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return Stats{}, err
	}
	ok = true
	// The bundle is in place; reading its figures back is not cancellable.
	r, err := Open(context.WithoutCancel(ctx), name)
	if err != nil {
		return Stats{}, err
	}
	defer r.Close()
	return r.Stats(), nil
}

// plan is the layout of the data section.
type plan struct {
	blobs  []*wblob
	frames [][2]int // blob ranges
}

func (w *Writer) plan() plan {
	blobs := make([]*wblob, 0, len(w.blobs))
	for _, b := range w.blobs {
		if b.base == 0 {
			blobs = append(blobs, b)
		}
	}
	sortBlobs(blobs)
	var p plan
	p.blobs = blobs
	c := cutter{class: 255, emit: func(from, to int) { p.frames = append(p.frames, [2]int{from, to}) }}
	for i := 0; i < len(blobs); {
		// A group is one class and module path: content of one module
		// stays together where it fits.
		j := i
		for j < len(blobs) && blobs[j].key.class == blobs[i].key.class && blobs[j].key.path == blobs[i].key.path {
			j++
		}
		if blobs[i].key.class != c.class {
			c.cut()
			c.class = blobs[i].key.class
			c.target = int64(w.opts.FrameSize)
			if c.class != 1 {
				c.target = metaFrameSize
			}
		}
		c.group(blobs, i, j)
		i = j
	}
	c.cut()
	for i, b := range blobs {
		b.index = uint32(i)
	}
	return p
}

// WriteTo writes the bundle to f, which must be empty.
func (w *Writer) WriteTo(ctx context.Context, f io.Writer) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("bundle writer is closed")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Frames compressed since Expect are taken as they are.
	if err := w.waitStream(ctx); err != nil {
		return err
	}
	omit, err := w.omitted()
	if err != nil {
		return err
	}
	if err := w.addZipTableLocked(omit); err != nil {
		return err
	}
	p := w.plan()
	ix := &index{meta: Meta{
		Tool:       w.opts.Tool,
		Created:    w.opts.Created.UTC(),
		Inputs:     w.opts.Inputs,
		Mirrors:    w.opts.Mirrors,
		Properties: w.storageProperties(),
	}}
	if w.opts.Created.IsZero() {
		ix.meta.Created = time.Unix(0, 0).UTC()
	}
	sort.Slice(ix.meta.Properties, func(i, j int) bool { return ix.meta.Properties[i].Key < ix.meta.Properties[j].Key })
	if w.bases != nil {
		ix.flags, ix.bases = FlagIncremental, w.bases.digests()
	}

	header := encodeHeader(ix.flags)
	if _, err := f.Write(header); err != nil {
		return err
	}
	frames, err := w.writeFrames(ctx, f, p)
	if err != nil {
		return err
	}
	ix.frames = frames
	ix.blobs = make([]blobEntry, len(p.blobs))
	for fi, fr := range p.frames {
		var off int64
		for _, b := range p.blobs[fr[0]:fr[1]] {
			ix.blobs[b.index] = blobEntry{frame: uint32(fi), off: off, size: b.size, sum: b.sum, crc: b.crc}
			off += b.size
		}
	}
	ix.local = len(ix.blobs)
	ix.blobs = append(ix.blobs, w.baseRefs(omit, uint32(ix.local))...)
	w.fillIndex(ix, omit)
	raw := ix.encode()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		return err
	}
	comp := enc.EncodeAll(raw, nil)
	enc.Close()
	var dataEnd int64 = headerSize
	for _, fr := range frames {
		dataEnd += fr.clen
	}
	if _, err := f.Write(comp); err != nil {
		return err
	}
	t := trailer{indexOff: dataEnd, indexLen: int64(len(comp)), indexRawLen: int64(len(raw)), indexSum: sha256.Sum256(comp), version: FormatVersion}
	if len(w.opts.Signers) > 0 {
		sigs, err := sign(SignedText(t.indexSum, ix.meta), nil, w.opts.Signers)
		if err != nil {
			return err
		}
		block := encodeSigBlock(sigs)
		t.sigOff, t.sigLen = dataEnd+t.indexLen, int64(len(block))
		if _, err := f.Write(block); err != nil {
			return err
		}
	}
	_, err = f.Write(encodeTrailer(t, header))
	return err
}

// addZipTableLocked adds the extra DeflatedTable: the mirror size and
// deflated form of each zip, by the module's place in the index (modules
// in omit, held by a base, are not listed there); the caller holds w.mu.
func (w *Writer) addZipTableLocked(omit map[any]bool) error {
	mods := make([]*wmod, 0, len(w.mods))
	for _, m := range w.mods {
		if !omit[m] { // as fillIndex lists them
			mods = append(mods, m)
		}
	}
	sort.Slice(mods, func(i, j int) bool {
		a, b := mods[i], mods[j]
		if a.path != b.path {
			return a.path < b.path
		}
		return versionLess(a.version, b.version)
	})
	var rows []zipExtra
	for i, m := range mods {
		if m.zipKind == zipRebuilt && (m.mirrorSize != 0 || m.deflSize != 0) {
			rows = append(rows, zipExtra{mod: uint32(i), mirrorSize: m.mirrorSize, deflSize: m.deflSize, deflSum: m.deflSum})
		}
	}
	key := [2]string{ExtraKindZips, DeflatedTable}
	if len(rows) == 0 || w.extras[key] != nil {
		return nil
	}
	b, err := w.addBlob(newContent(encodeZipTable(rows)), sortKey{class: 2, path: key[0], name: key[1]})
	if err != nil {
		return err
	}
	w.extras[key] = &wextra{kind: key[0], name: key[1], blob: b}
	return nil
}

// Properties naming the storage settings a bundle was written with, so that
// a rebuild (gobundle create --reproduce) can use the same ones.
const (
	PropLevel     = "bundle.level"      // zstd level of content frames: fastest, default, better, best
	PropFrameSize = "bundle.frame_size" // content frame target in bytes
	PropRawZips   = "bundle.raw_zips"   // "true" when zips are stored as served (WriterOptions.RawZips)
)

// storageProperties returns the caller's properties with the writer's
// storage settings added (a caller's own value for those keys wins).
func (w *Writer) storageProperties() []Property {
	props := append([]Property(nil), w.opts.Properties...)
	have := map[string]bool{}
	for _, p := range props {
		have[p.Key] = true
	}
	add := func(k, v string) {
		if !have[k] {
			props = append(props, Property{Key: k, Value: v})
		}
	}
	add(PropLevel, w.opts.Level.String())
	add(PropFrameSize, strconv.Itoa(w.opts.FrameSize))
	if w.opts.RawZips {
		add(PropRawZips, "true")
	}
	return props
}

// fillIndex turns the writer's modules and extras into sorted index entries.
// Entries in omit are left out (held by a base).
func (w *Writer) fillIndex(ix *index, omit map[any]bool) {
	originIDs := map[string]uint32{}
	for _, m := range w.mods {
		if omit[m] {
			continue
		}
		for _, o := range []string{m.infoOrigin, m.modOrigin, m.zipOrigin} {
			originIDs[o] = 0
		}
	}
	for _, x := range w.extras {
		if !omit[x] {
			originIDs[x.origin] = 0
		}
	}
	delete(originIDs, "")
	for o := range originIDs {
		ix.origins = append(ix.origins, o)
	}
	sort.Strings(ix.origins)
	for i, o := range ix.origins {
		originIDs[o] = uint32(i + 1)
	}
	ref := func(b *wblob) uint32 {
		if b == nil {
			return noBlob
		}
		return b.index
	}
	for _, m := range w.mods {
		if omit[m] {
			continue
		}
		e := modEntry{
			path: m.path, version: m.version,
			info: ref(m.info), mod: ref(m.mod),
			infoOrigin: originIDs[m.infoOrigin], modOrigin: originIDs[m.modOrigin],
			modHash: m.modHash, zipKind: m.zipKind,
		}
		if m.zipKind != zipNone {
			e.zipHash, e.zipOrigin, e.zipSize, e.zipSum = m.zipHash, originIDs[m.zipOrigin], m.zipSize, m.zipSum
			e.zipBlob = ref(m.zipBlob)
			for _, f := range m.files {
				e.files = append(e.files, zipFile{name: f.name, blob: f.blob.index})
			}
		}
		ix.mods = append(ix.mods, e)
	}
	sort.Slice(ix.mods, func(i, j int) bool { return modLess(&ix.mods[i], &ix.mods[j]) })
	for _, x := range w.extras {
		if omit[x] {
			continue
		}
		ix.extras = append(ix.extras, extraEntry{kind: x.kind, name: x.name, blob: x.blob.index, origin: originIDs[x.origin]})
	}
	sort.Slice(ix.extras, func(i, j int) bool {
		a, b := ix.extras[i], ix.extras[j]
		return a.kind < b.kind || (a.kind == b.kind && a.name < b.name)
	})
}

// writeFrames compresses the planned frames in parallel and writes them in
// order.
func (w *Writer) writeFrames(ctx context.Context, out io.Writer, p plan) ([]frameEntry, error) {
	defer w.closeEncoders()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan frameResult, len(p.frames))
	for i := range results {
		results[i] = make(chan frameResult, 1)
	}
	sem := make(chan struct{}, w.opts.Concurrency)
	go w.startFrames(ctx, p, sem, results)
	var total, done int64
	for _, b := range p.blobs {
		total += b.size
	}
	// The phase shows at once, not when the first frame is done.
	if w.opts.Progress != nil {
		w.opts.Progress(Event{Phase: "compress", Done: 0, Total: total})
	}
	frames := make([]frameEntry, len(p.frames))
	holdsExtra := w.framesHoldingExtras(p)
	off := int64(headerSize)
	for i := range p.frames {
		var r frameResult
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.token {
			<-sem
		}
		if r.err != nil {
			return nil, r.err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !frameExpansionOK(int64(len(r.comp)), r.ulen, holdsExtra[i]) {
			// Readers refuse such a frame as a decompression bomb.
			return nil, fmt.Errorf("frame %d: %d bytes compress to %d, more than the %d:1 a frame of %s may hold (docs/FORMAT.md, Bounds): its content is almost all one repeated byte", i, r.ulen, len(r.comp), ratioLimit, denseWhat(holdsExtra[i]))
		}
		if _, err := out.Write(r.comp); err != nil {
			return nil, err
		}
		frames[i] = frameEntry{off: off, clen: int64(len(r.comp)), ulen: r.ulen, sum: sha256.Sum256(r.comp)}
		off += int64(len(r.comp))
		done += r.ulen
		if w.opts.Progress != nil {
			w.opts.Progress(Event{Phase: "compress", Done: done, Total: total})
		}
	}
	if stored := off - headerSize; !framesExpansionOK(stored, done) {
		return nil, fmt.Errorf("%d bytes of content compress to %d, more than the %d:1 a bundle may hold beyond 1 GiB (docs/FORMAT.md, Bounds): it is almost all one repeated byte", done, stored, ratioLimit)
	}
	return frames, nil
}

// framesHoldingExtras says which of p's frames hold an extra's blob:
// readers bound their expansion tighter (frameExpansionOK).
func (w *Writer) framesHoldingExtras(p plan) []bool {
	blobs := make(map[*wblob]bool, len(w.extras))
	for _, x := range w.extras {
		blobs[x.blob] = true
	}
	holds := make([]bool, len(p.frames))
	for i, fr := range p.frames {
		for _, b := range p.blobs[fr[0]:fr[1]] {
			holds[i] = holds[i] || blobs[b]
		}
	}
	return holds
}

// denseWhat names the frames a dense-frame error is about.
func denseWhat(holdsExtra bool) string {
	if holdsExtra {
		return "extras"
	}
	return fmt.Sprintf("module content over %d MiB", denseFrameMaxRaw>>20)
}

// frameResult is one compressed frame of writeFrames.
type frameResult struct {
	comp []byte
	ulen int64
	err  error
	// token says the frame holds a slot of sem, which writeFrames gives
	// back once it has written the frame.
	token bool
}

// startFrames starts the compression of each planned frame, in order, as
// a slot of sem frees, each sending its result on results[i].
func (w *Writer) startFrames(ctx context.Context, p plan, sem chan struct{}, results []chan frameResult) {
	for i, fr := range p.frames {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			// The frame holds no slot: the loop must not give one
			// back, or it would wait for a slot nobody holds.
			results[i] <- frameResult{err: ctx.Err()}
			return
		}
		blobs := p.blobs[fr[0]:fr[1]]
		src := sourcesOf(blobs)
		key := w.frameKey(blobs)
		go func(i int) {
			results[i] <- w.compressFrame(ctx, src, key)
		}(i)
	}
}

// compressFrame returns the frame of the blobs src, whose cache key is
// key: streamed already, from the frame cache, or compressed now.
func (w *Writer) compressFrame(ctx context.Context, src []blobSource, key string) frameResult {
	var size int64
	for _, b := range src {
		size += b.size
	}
	res := frameResult{ulen: size, token: true}
	if res.comp = w.streamedFrame(key); res.comp != nil {
		return res
	}
	if res.comp = w.cachedFrame(key); res.comp != nil {
		return res
	}
	// Each step checks ctx first: after a cancellation no worker starts
	// reading or compressing another frame.
	if res.err = ctx.Err(); res.err != nil {
		return res
	}
	w.framesCompressed.Add(1)
	if res.comp, res.err = w.encodeFrame(ctx, src, size); res.err != nil {
		return res
	}
	w.storeFrame(key, res.comp)
	return res
}

// cutter splits a sorted run of blobs into frames, one group (the blobs of
// one class and module path) at a time. WriteTo's plan and the frames a
// streaming writer compresses early come from the same rules, so that they
// agree.
type cutter struct {
	class       uint8
	target      int64
	start, next int   // the open frame holds blobs[start:next]
	size        int64 // its size
	emit        func(from, to int)
}

// group adds blobs[i:j], which follow the blobs added before.
func (c *cutter) group(blobs []*wblob, i, j int) {
	var gsize int64
	for _, b := range blobs[i:j] {
		gsize += b.size
	}
	// Start a new frame rather than split a group, unless the open frame
	// is still small.
	if c.next > c.start && c.size+gsize > c.target && c.size >= c.target/4 {
		c.cut()
	}
	for k := i; k < j; k++ {
		if c.next > c.start && c.size+blobs[k].size > c.target {
			c.cut()
		}
		c.size += blobs[k].size
		c.next = k + 1
	}
}

// cut closes the open frame, if it holds anything.
func (c *cutter) cut() {
	if c.next > c.start {
		c.emit(c.start, c.next)
	}
	c.start, c.size = c.next, 0
}
