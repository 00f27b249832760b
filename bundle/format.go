package bundle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"path"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// File layout (docs/FORMAT.md is the full description):
//
//	header   16 bytes: Magic, uint32 format version, uint32 flags (0)
//	frames   zstd frames, contiguous, described by the index
//	index    one zstd frame holding the encoded index
//	sigs     optional signature block (sign.go)
//	trailer  88 bytes, see trailer
const (
	headerSize  = 16
	trailerSize = 88
	trailerEnd  = "GBTRAILR"
	indexMagic  = "GBIX"

	// Bounds that keep a hostile bundle (whose checksums an attacker can
	// recompute) from asking for absurd allocations or work; docs/FORMAT.md,
	// "Bounds", says why each is what it is. They are checked before
	// anything is allocated or decompressed.
	maxIndexRaw  = 1 << 30
	maxFrameRaw  = 1 << 30
	maxStringLen = 1 << 16
	maxCount     = 1 << 26
	// A stored index or frame may expand at most ratioLimit times, beyond
	// ratioFloor bytes: honest content compresses far less (an index
	// about 3x, source frames 5-20x), while a crafted one of a few KB can
	// claim gigabytes. Module content can be denser: a real project's
	// frame of 70 MB, mostly one repeated byte, is 27 KB at any level. So
	// a frame that holds no extra (no checksum database or vulnerability
	// data) may go beyond ratioLimit up to denseFrameMaxRaw, twice the
	// writer's frame size, and the frames together stay within ratioLimit
	// beyond framesFloor, one largest frame: a crafted bundle of a few
	// hundred KB asks for at most 1 GiB of decompression in all, and no
	// frame of it for more memory than an honest frame may take.
	ratioFloor       = 1 << 20
	ratioLimit       = 512
	denseFrameMaxRaw = 2 * DefaultFrameSize
	framesFloor      = maxFrameRaw
	// indexRatioLimit bounds the index's expansion, tighter since each
	// index byte may cost up to ~25 bytes of memory once decoded.
	indexRatioLimit = 32
	// maxZipContent is golang.org/x/mod/zip's limit on a module zip's
	// size, which a rebuilt zip (its files' contents) and a raw one obey.
	maxZipContent = modzip.MaxZipFile
	// zipsRatioLimit bounds the bytes of all zips a bundle serves against
	// the bundle's size, beyond zipsFloor: zips of several versions
	// share files, but not without limit.
	zipsFloor      = 256 << 20
	zipsRatioLimit = 4096
)

// Minimum encoded sizes of index entries, against which counts are
// checked before their tables are allocated.
const (
	minStrBytes   = 1                  // an empty string's length
	minFrameBytes = 1 + 1 + 32         // storedLen, rawLen, sha256
	minBlobBytes  = 1 + 1 + 1 + 32 + 4 // frame, offset, size, sha256, crc
	minModBytes   = 17                 // path (module.Check: at least "a.b"), version ("v0.0.0"), 4 refs, hash, kind
	minFileBytes  = 2                  // name, blob
	minExtraBytes = 4                  // kind, name, blob, origin
	minPropBytes  = 2
)

// expansionOK reports whether stored bytes may expand to raw bytes under
// the given ratio.
func expansionOK(stored, raw, ratio int64) bool {
	return raw <= ratioFloor || raw/ratio <= stored
}

// frameExpansionOK reports whether one frame may expand from stored to raw
// bytes: within ratioLimit, or, when it holds no extra, up to
// denseFrameMaxRaw.
func frameExpansionOK(stored, raw int64, holdsExtra bool) bool {
	return expansionOK(stored, raw, ratioLimit) || (!holdsExtra && raw <= denseFrameMaxRaw)
}

// framesExpansionOK reports whether a bundle's frames, stored bytes in
// all, may expand to raw bytes in all: ratioLimit beyond framesFloor.
func framesExpansionOK(stored, raw int64) bool {
	return raw <= framesFloor || raw/ratioLimit <= stored
}

// checkExpansion checks each frame's expansion and their sum's.
func (ix *index) checkExpansion() error {
	extra := make(map[uint32]bool)
	for _, x := range ix.extras {
		if int(x.blob) < ix.local {
			extra[ix.blobs[x.blob].frame] = true
		}
	}
	var stored, raw int64
	for i, f := range ix.frames {
		if !frameExpansionOK(f.clen, f.ulen, extra[uint32(i)]) {
			return fmt.Errorf("frame %d: %d stored bytes claim to expand to %d, more than %d times", i, f.clen, f.ulen, ratioLimit)
		}
		stored += f.clen
		raw += f.ulen
	}
	if !framesExpansionOK(stored, raw) {
		return fmt.Errorf("frames: %d stored bytes claim to expand to %d, more than %d times", stored, raw, ratioLimit)
	}
	return nil
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// trailer is the fixed-size end of a bundle.
type trailer struct {
	indexOff, indexLen, indexRawLen int64
	indexSum                        Sum // sha256 of the stored (compressed) index bytes
	sigOff, sigLen                  int64
	version                         uint32
}

func encodeHeader(flags uint32) []byte {
	b := make([]byte, headerSize)
	copy(b, Magic)
	binary.LittleEndian.PutUint32(b[8:], FormatVersion)
	binary.LittleEndian.PutUint32(b[12:], flags)
	return b
}

// checkHeader checks the header and returns its flags.
func checkHeader(b []byte) (uint32, error) {
	if len(b) < headerSize || string(b[:8]) != Magic {
		return 0, fmt.Errorf("not a gobundle file (bad magic): %w", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != FormatVersion {
		return 0, fmt.Errorf("header: bundle format version %d is not supported by this gobundle (knows %d): %w", v, FormatVersion, ErrUnsupported)
	}
	f := binary.LittleEndian.Uint32(b[12:])
	if f&^knownFlags != 0 {
		return 0, fmt.Errorf("header flags %#x name features this gobundle does not know (it knows %#x): %w", f, knownFlags, ErrUnsupported)
	}
	return f, nil
}

// encodeTrailer returns the trailer bytes; the CRC covers the header too, so
// a flipped header or trailer byte is always detected.
func encodeTrailer(t trailer, header []byte) []byte {
	b := make([]byte, trailerSize)
	binary.LittleEndian.PutUint64(b[0:], uint64(t.indexOff))
	binary.LittleEndian.PutUint64(b[8:], uint64(t.indexLen))
	binary.LittleEndian.PutUint64(b[16:], uint64(t.indexRawLen))
	copy(b[24:56], t.indexSum[:])
	binary.LittleEndian.PutUint64(b[56:], uint64(t.sigOff))
	binary.LittleEndian.PutUint64(b[64:], uint64(t.sigLen))
	binary.LittleEndian.PutUint32(b[72:], t.version)
	c := crc32.Update(crc32.Checksum(header, crcTable), crcTable, b[:76])
	binary.LittleEndian.PutUint32(b[76:], c)
	copy(b[80:], trailerEnd)
	return b
}

func decodeTrailer(b, header []byte, fileSize int64) (trailer, error) {
	var t trailer
	if len(b) != trailerSize || string(b[80:]) != trailerEnd {
		return t, fmt.Errorf("bundle truncated or not a gobundle file (no trailer): %w", ErrCorrupt)
	}
	c := crc32.Update(crc32.Checksum(header, crcTable), crcTable, b[:76])
	if binary.LittleEndian.Uint32(b[76:]) != c {
		return t, fmt.Errorf("header or trailer checksum mismatch: %w", ErrCorrupt)
	}
	t.indexOff = int64(binary.LittleEndian.Uint64(b[0:]))
	t.indexLen = int64(binary.LittleEndian.Uint64(b[8:]))
	t.indexRawLen = int64(binary.LittleEndian.Uint64(b[16:]))
	copy(t.indexSum[:], b[24:56])
	t.sigOff = int64(binary.LittleEndian.Uint64(b[56:]))
	t.sigLen = int64(binary.LittleEndian.Uint64(b[64:]))
	t.version = binary.LittleEndian.Uint32(b[72:])
	end := fileSize - trailerSize
	switch {
	case t.version != FormatVersion:
		return t, fmt.Errorf("trailer format version %d does not match header: %w", t.version, ErrCorrupt)
	case t.indexOff < headerSize || t.indexLen <= 0 || t.indexOff > end || t.indexLen > end-t.indexOff:
		return t, fmt.Errorf("index location out of range: %w", ErrCorrupt)
	case t.indexRawLen <= 0 || t.indexRawLen > maxIndexRaw:
		return t, fmt.Errorf("index size %d out of range: %w", t.indexRawLen, ErrCorrupt)
	case !expansionOK(t.indexLen, t.indexRawLen, indexRatioLimit):
		return t, fmt.Errorf("index of %d bytes claims to expand to %d, more than %d times: %w", t.indexLen, t.indexRawLen, indexRatioLimit, ErrCorrupt)
	case t.sigLen < 0 || t.sigLen > maxSigBlock:
		return t, fmt.Errorf("signature block of %d bytes out of range (at most %d): %w", t.sigLen, maxSigBlock, ErrCorrupt)
	case t.sigLen == 0 && t.sigOff != 0, t.sigLen != 0 && (t.sigOff != t.indexOff+t.indexLen || t.sigLen != end-t.sigOff):
		return t, fmt.Errorf("signature block location out of range: %w", ErrCorrupt)
	case t.sigLen == 0 && t.indexOff+t.indexLen != end:
		return t, fmt.Errorf("bytes between index and trailer: %w", ErrCorrupt)
	}
	return t, nil
}

// Index in memory.

type frameEntry struct {
	off  int64 // file offset, derived: frames are contiguous from the header
	clen int64
	ulen int64
	sum  Sum // sha256 of the stored (compressed) frame bytes
}

type blobEntry struct {
	frame uint32
	off   int64 // offset in the decompressed frame
	size  int64
	sum   Sum
	crc   uint32 // IEEE CRC-32, as zip headers need it
	// base is 0 for a blob stored in this bundle's frames, else 1 + the
	// index in index.bases of the base bundle that holds it (an
	// incremental bundle's reference; frame and off are then unused).
	base uint32
}

type zipFile struct {
	name string // path inside the zip after the "module@version/" prefix
	blob uint32
}

const (
	zipNone    = 0
	zipRebuilt = 1
	zipRaw     = 2
)

const noBlob = math.MaxUint32

type modEntry struct {
	path, version          string
	info, mod              uint32 // blob index or noBlob
	infoOrigin, modOrigin  uint32 // string table index + 1; 0 = unknown
	modHash                string
	zipKind                uint8
	zipHash                string
	zipOrigin              uint32
	zipSize                int64
	zipSum                 Sum
	zipBlob                uint32 // zipRaw
	files                  []zipFile
	zipPrefixLen, zipExtra int // layout helpers computed on load
	// From the extra DeflatedTable (deflate.go), when the bundle has one:
	// the mirror's zip size (0 unknown) and the deflated zip's size (0
	// none) and sha256.
	mirrorSize, deflSize int64
	deflSum              Sum
}

type extraEntry struct {
	kind, name string
	blob       uint32
	origin     uint32
}

type index struct {
	flags   uint32 // header flags
	meta    Meta
	origins []string
	frames  []frameEntry
	blobs   []blobEntry // stored blobs first, then references to bases' blobs
	local   int         // number of stored blobs
	bases   []Sum       // incremental: the bundle digests of the bases, sorted
	mods    []modEntry
	extras  []extraEntry
}

// encoder appends the binary index encoding.
type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) sum(s Sum)        { e.b = append(e.b, s[:]...) }
func (e *encoder) u32(v uint32)     { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) ref(v uint32) {
	if v == noBlob {
		e.uvarint(0)
	} else {
		e.uvarint(uint64(v) + 1)
	}
}

func (ix *index) encode() []byte {
	e := &encoder{}
	e.b = append(e.b, indexMagic...)
	e.uvarint(FormatVersion)
	m := ix.meta
	e.str(m.Tool)
	e.varint(m.Created.Unix())
	e.uvarint(uint64(len(m.Inputs)))
	for _, s := range m.Inputs {
		e.str(s)
	}
	e.uvarint(uint64(len(m.Mirrors)))
	for _, s := range m.Mirrors {
		e.str(s)
	}
	e.uvarint(uint64(len(m.Properties)))
	for _, p := range m.Properties {
		e.str(p.Key)
		e.str(p.Value)
	}
	e.uvarint(uint64(len(ix.origins)))
	for _, s := range ix.origins {
		e.str(s)
	}
	e.uvarint(uint64(len(ix.frames)))
	for _, f := range ix.frames {
		e.uvarint(uint64(f.clen))
		e.uvarint(uint64(f.ulen))
		e.sum(f.sum)
	}
	local := len(ix.blobs)
	if ix.flags&FlagIncremental != 0 {
		local = ix.local
	}
	e.uvarint(uint64(local))
	for _, b := range ix.blobs[:local] {
		e.uvarint(uint64(b.frame))
		e.uvarint(uint64(b.off))
		e.uvarint(uint64(b.size))
		e.sum(b.sum)
		e.u32(b.crc)
	}
	if ix.flags&FlagIncremental != 0 {
		ix.encodeBases(e)
	}
	e.uvarint(uint64(len(ix.mods)))
	for i := range ix.mods {
		m := &ix.mods[i]
		e.str(m.path)
		e.str(m.version)
		e.ref(m.info)
		e.uvarint(uint64(m.infoOrigin))
		e.ref(m.mod)
		e.uvarint(uint64(m.modOrigin))
		e.str(m.modHash)
		e.b = append(e.b, m.zipKind)
		if m.zipKind == zipNone {
			continue
		}
		e.str(m.zipHash)
		e.uvarint(uint64(m.zipOrigin))
		e.uvarint(uint64(m.zipSize))
		e.sum(m.zipSum)
		if m.zipKind == zipRaw {
			e.uvarint(uint64(m.zipBlob))
			continue
		}
		e.uvarint(uint64(len(m.files)))
		for _, f := range m.files {
			e.str(f.name)
			e.uvarint(uint64(f.blob))
		}
	}
	e.uvarint(uint64(len(ix.extras)))
	for _, x := range ix.extras {
		e.str(x.kind)
		e.str(x.name)
		e.uvarint(uint64(x.blob))
		e.uvarint(uint64(x.origin))
	}
	return e.b
}

// decoder reads the binary index encoding; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errIndexShort = errors.New("index ends early")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if !d.consume(n) {
		return 0
	}
	return v
}

// consume drops a varint of n bytes (binary.Uvarint's or Varint's n),
// failing on a short or overlong one: each value has one form, so that an
// index re-encodes to the bytes it was read from.
func (d *decoder) consume(n int) bool {
	switch {
	case n <= 0:
		d.fail(errIndexShort)
		return false
	case n > 1 && d.b[n-1] == 0:
		d.fail(errors.New("non-minimal varint"))
		return false
	}
	d.b = d.b[n:]
	return true
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if !d.consume(n) {
		return 0
	}
	return v
}

// count reads the length of a table whose entries take at least min
// bytes each, and refuses one that the bytes left cannot hold.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if v > maxCount || v > uint64(len(d.b)/min) {
		d.fail(fmt.Errorf("count %d out of range (%d bytes left)", v, len(d.b)))
		return 0
	}
	return int(v)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxStringLen || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("string length %d out of range", n))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail(errIndexShort)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) sum() (s Sum) {
	copy(s[:], d.bytes(32))
	return s
}

func (d *decoder) u32() uint32 {
	b := d.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (d *decoder) size() int64 {
	v := d.uvarint()
	if v > math.MaxInt64/2 {
		d.fail(fmt.Errorf("size %d out of range", v))
		return 0
	}
	return int64(v)
}

// decodeIndex parses and cross-checks an index: every reference in it points
// inside the tables, and every blob inside its frame.
//
// dataEnd is where the frames end (the index's offset) and fileSize the
// bundle's size, against which the bounds are checked.
// flags are the header's: they say which optional sections the index has.
func decodeIndex(b []byte, flags uint32, dataEnd, fileSize int64) (*index, error) {
	d := &decoder{b: b}
	if string(d.bytes(len(indexMagic))) != indexMagic {
		return nil, fmt.Errorf("index: bad magic: %w", ErrCorrupt)
	}
	if v := d.uvarint(); d.err == nil && v != FormatVersion {
		return nil, fmt.Errorf("index: format version %d not supported: %w", v, ErrCorrupt)
	}
	ix := &index{flags: flags}
	ix.decodeMeta(d)
	ix.decodeFrames(d, dataEnd)
	ix.decodeBlobs(d)
	ix.local = len(ix.blobs)
	if flags&FlagIncremental != 0 {
		ix.decodeBases(d)
	}
	ix.decodeMods(d)
	ix.extras = make([]extraEntry, d.count(minExtraBytes))
	for i := range ix.extras {
		ix.extras[i] = extraEntry{kind: d.str(), name: d.str(), blob: ix.blobRef(d), origin: ix.originRef(d)}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Errorf("%d bytes after the index", len(d.b)))
	}
	if d.err != nil {
		return nil, fmt.Errorf("index: %v: %w", d.err, ErrCorrupt)
	}
	if err := ix.checkExpansion(); err != nil {
		return nil, fmt.Errorf("index: %v: %w", err, ErrCorrupt)
	}
	if err := ix.check(fileSize); err != nil {
		return nil, fmt.Errorf("index: %v: %w", err, ErrCorrupt)
	}
	return ix, nil
}

// decodeMeta reads the metadata and the origins table.
func (ix *index) decodeMeta(d *decoder) {
	ix.meta.Tool = d.str()
	ix.meta.Created = time.Unix(d.varint(), 0).UTC()
	ix.meta.Inputs = make([]string, d.count(minStrBytes))
	for i := range ix.meta.Inputs {
		ix.meta.Inputs[i] = d.str()
	}
	ix.meta.Mirrors = make([]string, d.count(minStrBytes))
	for i := range ix.meta.Mirrors {
		ix.meta.Mirrors[i] = d.str()
	}
	ix.meta.Properties = make([]Property, d.count(minPropBytes))
	for i := range ix.meta.Properties {
		ix.meta.Properties[i] = Property{Key: d.str(), Value: d.str()}
	}
	ix.origins = make([]string, d.count(minStrBytes))
	for i := range ix.origins {
		ix.origins[i] = d.str()
	}
}

// decodeFrames reads the frames table: frames follow each other from the
// header to dataEnd, each within the bounds.
func (ix *index) decodeFrames(d *decoder, dataEnd int64) {
	ix.frames = make([]frameEntry, d.count(minFrameBytes))
	off := int64(headerSize)
	for i := range ix.frames {
		f := &ix.frames[i]
		f.off = off
		f.clen = d.size()
		f.ulen = d.size()
		f.sum = d.sum()
		if d.err == nil && (f.clen <= 0 || f.ulen <= 0 || f.ulen > maxFrameRaw || f.clen > dataEnd-off) {
			d.fail(fmt.Errorf("frame %d out of range", i))
		}
		off += f.clen
	}
	if d.err == nil && off != dataEnd {
		d.fail(fmt.Errorf("frames end at %d, index starts at %d", off, dataEnd))
	}
}

// decodeBlobs reads the blobs table: each blob lies inside its frame.
func (ix *index) decodeBlobs(d *decoder) {
	ix.blobs = make([]blobEntry, d.count(minBlobBytes))
	for i := range ix.blobs {
		bl := &ix.blobs[i]
		fr := d.uvarint()
		bl.off = d.size()
		bl.size = d.size()
		bl.sum = d.sum()
		bl.crc = d.u32()
		if d.err != nil {
			return
		}
		if fr >= uint64(len(ix.frames)) || bl.off > ix.frames[fr].ulen || bl.size > ix.frames[fr].ulen-bl.off {
			d.fail(fmt.Errorf("blob %d out of range", i))
			return
		}
		bl.frame = uint32(fr)
	}
}

// decodeMods reads the module versions table, with their zips.
func (ix *index) decodeMods(d *decoder) {
	ix.mods = make([]modEntry, d.count(minModBytes))
	for i := range ix.mods {
		m := &ix.mods[i]
		m.path = d.str()
		m.version = d.str()
		m.info = ix.optBlobRef(d)
		m.infoOrigin = ix.originRef(d)
		m.mod = ix.optBlobRef(d)
		m.modOrigin = ix.originRef(d)
		m.modHash = d.str()
		kind := d.bytes(1)
		if d.err != nil {
			return
		}
		m.zipKind = kind[0]
		switch m.zipKind {
		case zipNone:
			continue
		case zipRaw, zipRebuilt:
		default:
			d.fail(fmt.Errorf("module %d: unknown zip kind %d", i, m.zipKind))
			continue
		}
		ix.decodeZip(d, i, m)
	}
}

// decodeZip reads the zip of module version i, m: a raw zip's blob, or a
// rebuilt zip's files.
func (ix *index) decodeZip(d *decoder, i int, m *modEntry) {
	m.zipHash = d.str()
	m.zipOrigin = ix.originRef(d)
	m.zipSize = d.size()
	m.zipSum = d.sum()
	if m.zipKind == zipRaw {
		m.zipBlob = ix.blobRef(d)
		if d.err == nil && ix.blobs[m.zipBlob].size != m.zipSize {
			d.fail(fmt.Errorf("module %d: raw zip size mismatch", i))
		}
		return
	}
	m.files = make([]zipFile, d.count(minFileBytes))
	for j := range m.files {
		m.files[j] = zipFile{name: d.str(), blob: ix.blobRef(d)}
	}
}

// originRef reads a reference into the origins table.
func (ix *index) originRef(d *decoder) uint32 {
	v := d.uvarint()
	if v > uint64(len(ix.origins)) {
		d.fail(fmt.Errorf("origin reference %d out of range", v))
		return 0
	}
	return uint32(v)
}

// blobRef reads a reference into the blobs table.
func (ix *index) blobRef(d *decoder) uint32 {
	v := d.uvarint()
	if v >= uint64(len(ix.blobs)) {
		d.fail(fmt.Errorf("blob reference %d out of range", v))
		return noBlob
	}
	return uint32(v)
}

// optBlobRef reads an optional reference into the blobs table (0: none).
func (ix *index) optBlobRef(d *decoder) uint32 {
	v := d.uvarint()
	if v == 0 {
		return noBlob
	}
	if v > uint64(len(ix.blobs)) {
		d.fail(fmt.Errorf("blob reference %d out of range", v))
		return noBlob
	}
	return uint32(v - 1)
}

// check enforces what the writer guarantees: sorted, unique, well-formed
// entries (module versions as module.Check wants them, zip file names as
// golang.org/x/mod/zip does), and rebuilt zips whose layout fits the zip
// format and the bounds.
func (ix *index) check(fileSize int64) error {
	var zipBytes int64
	// An incremental bundle's zips read content its bases store: the bound
	// counts that content (each referenced blob once) with its own size.
	for _, b := range ix.blobs[ix.local:] {
		fileSize += b.size
	}
	for i := range ix.mods {
		m := &ix.mods[i]
		if i > 0 && !modLess(&ix.mods[i-1], m) {
			return fmt.Errorf("module entries not sorted or duplicated at %s@%s", m.path, m.version)
		}
		if err := module.Check(m.path, m.version); err != nil {
			return fmt.Errorf("module entry %q@%q: %v", m.path, m.version, err)
		}
		switch m.zipKind {
		case zipRebuilt:
			if err := checkZipFiles(m, ix.blobs); err != nil {
				return fmt.Errorf("%s@%s zip: %v", m.path, m.version, err)
			}
			size, err := zipLayoutSize(m, ix.blobs)
			if err != nil {
				return fmt.Errorf("%s@%s zip: %v", m.path, m.version, err)
			}
			if size != m.zipSize {
				return fmt.Errorf("%s@%s zip: size %d does not match its layout (%d)", m.path, m.version, m.zipSize, size)
			}
		case zipRaw:
			if m.zipSize > maxZipContent {
				return fmt.Errorf("%s@%s zip: %d bytes, more than a module zip may have (%d)", m.path, m.version, m.zipSize, int64(maxZipContent))
			}
		}
		zipBytes += m.zipSize
		if zipBytes > zipsFloor && zipBytes/zipsRatioLimit > fileSize {
			return fmt.Errorf("%s@%s zip: the zips add up to more than %d times the bundle's size", m.path, m.version, zipsRatioLimit)
		}
	}
	for i, x := range ix.extras {
		if i > 0 {
			a := ix.extras[i-1]
			if a.kind > x.kind || (a.kind == x.kind && a.name >= x.name) {
				return fmt.Errorf("extra entries not sorted or duplicated at %s %s", x.kind, x.name)
			}
		}
		if x.kind == "" || x.name == "" || !utf8.ValidString(x.kind) || !utf8.ValidString(x.name) {
			return fmt.Errorf("extra entry %q %q: empty or not UTF-8", x.kind, x.name)
		}
	}
	return nil
}

// checkZipFiles checks the file names and sizes of a rebuilt zip as
// golang.org/x/mod/zip checks a module zip the go command downloads: valid
// and clean names, no duplicates, no two that differ only in case, and the
// zip, go.mod and LICENSE size limits. Names must also be sorted, as
// writers list them, which makes duplicates adjacent.
func checkZipFiles(m *modEntry, blobs []blobEntry) error {
	files := make([]modzip.File, len(m.files))
	for i, f := range m.files {
		if i > 0 && m.files[i-1].name >= f.name {
			return fmt.Errorf("file names not sorted or duplicated at %q", f.name)
		}
		if f.blob >= uint32(len(blobs)) {
			return fmt.Errorf("file %q: blob out of range", f.name)
		}
		files[i] = zipEntryFile{name: f.name, size: blobs[f.blob].size}
	}
	// Files x/mod/zip would leave out of a zip it creates (vendor
	// directories, nested modules) are accepted, as the go command accepts
	// them in a zip it downloads: only invalid ones and sizes fail.
	if _, err := modzip.CheckFiles(files); err != nil {
		return oneLine(err)
	}
	return nil
}

// zipEntryFile presents a rebuilt zip's entry to modzip.CheckFiles, which
// looks only at names, modes and sizes.
type zipEntryFile struct {
	name string
	size int64
}

func (f zipEntryFile) Path() string                 { return f.name }
func (f zipEntryFile) Lstat() (fs.FileInfo, error)  { return zipEntryInfo(f), nil }
func (f zipEntryFile) Open() (io.ReadCloser, error) { return nil, errors.New("not readable") }

type zipEntryInfo zipEntryFile

func (i zipEntryInfo) Name() string       { return path.Base(i.name) }
func (i zipEntryInfo) Size() int64        { return i.size }
func (i zipEntryInfo) Mode() fs.FileMode  { return 0o644 }
func (i zipEntryInfo) ModTime() time.Time { return time.Time{} }
func (i zipEntryInfo) IsDir() bool        { return false }
func (i zipEntryInfo) Sys() any           { return nil }
