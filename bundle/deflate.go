package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Deflated zips (docs/FORMAT.md, "Zips as served"): a rebuilt zip is
// served with its files deflated, so that a client downloads and keeps no
// more than the mirror sent. The bytes come from a fixed compressor
// (klauspost/compress/flate at deflateLevel, one stream per file, stored
// where deflate does not shrink a file) over the checked contents, and
// the writer records their size and sha256 in the extra ExtraKindZips
// DeflatedTable. A reader serves them only when its compressor gives
// exactly those bytes; otherwise it serves the stored rebuilt zip, whose
// sha256 the index holds too.

// deflateLevel is the compressor level of deflated zips: on a large real
// project's 431 zips, level 5 gives 0.98x of what the mirror sent, level
// 1 1.13x (docs/FORMAT.md). It is part of DeflatedTable's meaning: a
// different level is a different table name.
const deflateLevel = 5

// ExtraKindZips is the extra kind of zip metadata the writer records
// itself; DeflatedTable is the name of its table of deflated zips and
// mirror sizes. Writers make this extra from their own modules and leave
// out one handed to them (a copy from another bundle would describe other
// modules).
const (
	ExtraKindZips = "zips"
	DeflatedTable = "deflated/1"
	deflTableMag  = "GBZD"
)

// ErrNotReproduced is wrapped by the error of a deflated zip whose bytes,
// as this gobundle's compressor makes them from the checked contents, do
// not have the sha256 the bundle records (a bundle written by a gobundle
// whose compressor differs). Callers serve the stored zip instead.
var ErrNotReproduced = errors.New("deflated zip not reproduced by this gobundle's compressor")

// zipMethod* are the zip compression methods.
const (
	zipMethodStore   = 0
	zipMethodDeflate = 8
)

var flatePool = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, deflateLevel)
	return w
}}

// zipBuilder writes a module zip file by file with the layout of a rebuilt
// zip (docs/FORMAT.md), each file deflated unless that does not make it
// smaller, and counts what it wrote.
type zipBuilder struct {
	w    io.Writer
	n    int64
	cd   []byte
	nf   int
	comp capBuffer
	err  error
}

// capBuffer collects a file's deflate output up to a bound (one byte less
// than the file, beyond which the file is stored): its memory is
// allocated once at the size of the largest file, where a growing buffer
// left a trail of garbage copies (a toolchain's 30 MB binaries).
type capBuffer struct {
	b     []byte
	limit int
}

var errNoSmaller = errors.New("deflate does not make it smaller")

func (c *capBuffer) reset(limit int) {
	if cap(c.b) < limit {
		c.b = make([]byte, 0, limit)
	}
	c.b, c.limit = c.b[:0], limit
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if len(c.b)+len(p) > c.limit {
		return 0, errNoSmaller
	}
	c.b = append(c.b, p...)
	return len(p), nil
}

func (z *zipBuilder) write(p []byte) {
	if z.err != nil {
		return
	}
	n, err := z.w.Write(p)
	z.n += int64(n)
	z.err = err
}

// add writes one file: name is its full name in the zip, data its checked
// content and crc the CRC-32 the index records for it.
func (z *zipBuilder) add(name string, data []byte, crc uint32) error {
	if z.err != nil {
		return z.err
	}
	method, payload := uint16(zipMethodStore), data
	if len(data) > 0 {
		z.comp.reset(len(data) - 1)
		fw := flatePool.Get().(*flate.Writer)
		fw.Reset(&z.comp)
		_, err := fw.Write(data)
		if err == nil {
			err = fw.Close()
		}
		flatePool.Put(fw)
		switch {
		case err == nil:
			method, payload = zipMethodDeflate, z.comp.b
		case !errors.Is(err, errNoSmaller):
			return err
		}
	}
	if z.n > math.MaxUint32 {
		return fmt.Errorf("deflated zip larger than 4 GiB")
	}
	off := uint32(z.n)
	z.write(fileHeader(false, name, method, crc, int64(len(payload)), int64(len(data)), 0))
	z.write(payload)
	z.cd = append(z.cd, fileHeader(true, name, method, crc, int64(len(payload)), int64(len(data)), off)...)
	z.nf++
	return z.err
}

// close writes the central directory and the end record.
func (z *zipBuilder) close() error {
	if z.err != nil {
		return z.err
	}
	cdStart := z.n
	z.write(z.cd)
	end := make([]byte, zipEndLen)
	binary.LittleEndian.PutUint32(end[0:], 0x06054b50)
	binary.LittleEndian.PutUint16(end[8:], uint16(z.nf))
	binary.LittleEndian.PutUint16(end[10:], uint16(z.nf))
	binary.LittleEndian.PutUint32(end[12:], uint32(int64(len(z.cd))))
	binary.LittleEndian.PutUint32(end[16:], uint32(cdStart))
	z.write(end)
	return z.err
}

// deflatedSum computes the size and sha256 of a deflated zip as it is
// built, for writers.
type deflatedSum struct {
	h hash.Hash
	zipBuilder
}

func newDeflatedSum() *deflatedSum {
	d := &deflatedSum{h: sha256.New()}
	d.zipBuilder.w = d.h
	return d
}

func (d *deflatedSum) result() (int64, Sum, error) {
	if err := d.close(); err != nil {
		return 0, Sum{}, err
	}
	var s Sum
	copy(s[:], d.h.Sum(nil))
	return d.n, s, nil
}

// zipExtra is what DeflatedTable records of one module's zip.
type zipExtra struct {
	mod        uint32 // index in the modules table
	mirrorSize int64  // 0: unknown
	deflSize   int64  // 0: no deflated form
	deflSum    Sum
}

// encodeZipTable encodes DeflatedTable:
//
//	"GBZD" uvarint n, n × (uvarint module index, uvarint mirror size (0 unknown),
//	                       uvarint deflated size (0 none), [32]sha256 if size ≠ 0)
//
// with module indexes increasing.
func encodeZipTable(rows []zipExtra) []byte {
	e := &encoder{}
	e.b = append(e.b, deflTableMag...)
	e.uvarint(uint64(len(rows)))
	for _, r := range rows {
		e.uvarint(uint64(r.mod))
		e.uvarint(uint64(r.mirrorSize))
		e.uvarint(uint64(r.deflSize))
		if r.deflSize != 0 {
			e.sum(r.deflSum)
		}
	}
	return e.b
}

// applyZipTable decodes DeflatedTable and fills in the modules it
// describes, refusing any reference or size out of range: a module must
// hold a zip, a deflated form only a rebuilt one and never larger than
// its stored form (a file deflate does not shrink is stored), and a mirror
// size stays within x/mod/zip's limit.
func (ix *index) applyZipTable(data []byte) error {
	d := &decoder{b: data}
	if string(d.bytes(len(deflTableMag))) != deflTableMag {
		return errors.New("bad magic")
	}
	n := d.count(3)
	last := -1
	for range n {
		i := d.uvarint()
		mirror, size := d.size(), d.size()
		if d.err != nil {
			break
		}
		if i >= uint64(len(ix.mods)) || int(i) <= last {
			return fmt.Errorf("module reference %d out of range or not increasing", i)
		}
		last = int(i)
		m := &ix.mods[i]
		switch {
		case m.zipKind == zipNone:
			return fmt.Errorf("%s@%s has no zip", m.path, m.version)
		case mirror > maxZipContent:
			return fmt.Errorf("%s@%s: mirror zip size %d over %d", m.path, m.version, mirror, int64(maxZipContent))
		case size != 0 && (m.zipKind != zipRebuilt || size > m.zipSize):
			return fmt.Errorf("%s@%s: deflated zip size %d out of range", m.path, m.version, size)
		}
		m.mirrorSize, m.deflSize = mirror, size
		if size != 0 {
			m.deflSum = d.sum()
		}
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%d bytes after the table", len(d.b))
	}
	return nil
}

// loadZipTable reads DeflatedTable, if the bundle has one. A table that
// fails its checks is dropped (r.zipTableErr says why; Verify reports the
// frame or blob that holds it): the zips are then served stored, never
// from a table that failed, and the rest of the bundle stays readable.
func (r *Reader) loadZipTable(ctx context.Context) error {
	data, err := r.ReadExtra(ctx, ExtraKindZips, DeflatedTable)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		if err = r.ix.applyZipTable(data); err != nil {
			err = fmt.Errorf("%s: extra %s %s: %v: %w", r.name, ExtraKindZips, DeflatedTable, err, ErrCorrupt)
		}
	}
	if isCtxErr(err) {
		return err
	}
	if err != nil {
		r.zipTableErr = err
		for i := range r.ix.mods {
			m := &r.ix.mods[i]
			m.mirrorSize, m.deflSize, m.deflSum = 0, 0, Sum{}
		}
	}
	return nil
}

// ZipTableError returns why the bundle's table of deflated zips was not
// used (its zips are served stored), or nil.
func (r *Reader) ZipTableError() error { return r.zipTableErr }

// WriteZip writes the zip of path@version as it is served to w: the
// deflated zip when the bundle records one, else the stored one (see
// [Reader.OpenFile]) or the original bytes. Every file's content is
// checked against its sha256 before it is compressed, and the sha256 of
// what was written is checked at the end against the bundle's: on a
// mismatch the error wraps ErrCorrupt (stored and original zips) or
// ErrNotReproduced (deflated ones), and the caller must discard what it
// got, as Unpack and serve's zip cache do by writing to a temporary file.
// Reading uses the frame cache where a frame is in it and otherwise
// decompresses each frame once, without filling the cache.
func (r *Reader) WriteZip(ctx context.Context, path, version string, w io.Writer) (FileInfo, error) {
	m := r.find(path, version)
	if m == nil || m.zipKind == zipNone {
		return FileInfo{}, fmt.Errorf("%s: %s@%s zip: %w", r.name, path, version, fs.ErrNotExist)
	}
	if m.deflSize == 0 {
		f, err := r.OpenFile(ctx, path, version, KindZip)
		if err != nil {
			return FileInfo{}, err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), f); err != nil {
			return FileInfo{}, err
		}
		if Sum(h.Sum(nil)) != m.zipSum {
			return FileInfo{}, fmt.Errorf("%s: %s@%s zip: sha256 mismatch: %w", r.name, path, version, ErrCorrupt)
		}
		return f.Info(), nil
	}
	entry := path + "@" + version + " zip"
	h := sha256.New()
	z := &zipBuilder{w: io.MultiWriter(w, h)}
	sr := &seqReader{r: r}
	defer sr.close()
	prefix := zipPrefix(m.path, m.version)
	for _, f := range m.files {
		if err := ctx.Err(); err != nil {
			return FileInfo{}, err
		}
		data, err := sr.blob(ctx, f.blob, entry)
		if err != nil {
			return FileInfo{}, err
		}
		if err := z.add(prefix+f.name, data, r.ix.blobs[f.blob].crc); err != nil {
			return FileInfo{}, err
		}
	}
	if err := z.close(); err != nil {
		return FileInfo{}, err
	}
	if z.n != m.deflSize || Sum(h.Sum(nil)) != m.deflSum {
		return FileInfo{}, fmt.Errorf("%s: %s: %d bytes, sha256 %x; the bundle records %d bytes, %s: %w",
			r.name, entry, z.n, h.Sum(nil), m.deflSize, m.deflSum, ErrNotReproduced)
	}
	return FileInfo{Size: m.deflSize, SHA256: m.deflSum, Origin: r.origin(m.zipOrigin)}, nil
}

// seqReader reads blobs in data-section order, as a zip's files are laid
// out: from the frame cache when it holds their frame, else from the one
// frame it decompressed last, so one pass over a large zip neither
// decompresses a frame twice nor pushes other frames out of the cache.
// The frame it holds counts against the cache's bound (see FrameCache),
// and its buffers are reused from frame to frame: a build of a 200 MiB
// toolchain zip allocates one frame's memory, not one per frame.
type seqReader struct {
	r        *Reader
	id       uint32
	fd       *frameData
	held     int64 // bytes reserved in r.cache for fd
	out, cmp []byte
}

func (s *seqReader) blob(ctx context.Context, i uint32, entry string) ([]byte, error) {
	b := s.r.ix.blobs[i]
	if b.base != 0 {
		if s.held > 0 {
			ctx = context.WithValue(ctx, holdingKey{}, true)
		}
		data, _, err := s.r.blobSlice(ctx, i, entry) // a base bundle's content
		return data, err
	}
	fd := s.r.cache.peek(frameKey{s.r, b.frame})
	if fd == nil {
		if s.fd == nil || s.id != b.frame {
			if err := s.load(ctx, b.frame); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", s.r.name, entry, err)
			}
		}
		fd = s.fd
	}
	out := fd.data[b.off : b.off+b.size]
	if _, ok := fd.verified.Load(i); !ok {
		if sha256.Sum256(out) != b.sum {
			return nil, fmt.Errorf("%s: %s: content sha256 mismatch: %w", s.r.name, entry, ErrCorrupt)
		}
		fd.verified.Store(i, true)
	}
	return out, nil
}

// load decompresses frame id into the reader's buffers, within the
// cache's bound.
func (s *seqReader) load(ctx context.Context, id uint32) error {
	if s.fd != nil {
		s.out = s.fd.data // no one else holds it: it was never cached
	}
	s.fd = nil
	size := s.r.ix.frames[id].ulen
	if int64(cap(s.out)) < size {
		s.r.cache.unreserve(s.held)
		s.held, s.out = 0, nil // a larger frame: let the old buffer go before reserving
	}
	if s.out == nil {
		s.out, s.held = s.r.cache.takeSpare(size)
	}
	// The frame's compressed bytes are in memory too while it is read.
	cneed := max(s.r.ix.frames[id].clen, int64(cap(s.cmp)))
	if need := max(size, int64(cap(s.out))) + cneed; need != s.held {
		s.r.cache.unreserve(s.held)
		s.held = 0
		if err := s.r.cache.reserve(ctx, need); err != nil {
			return err
		}
		s.held = need
	}
	data, cmp, err := s.r.loadFrame(ctx, id, s.cmp, s.out)
	s.cmp = cmp
	if err != nil {
		return err
	}
	s.fd, s.id = &frameData{data: data}, id
	return nil
}

// close gives back the frame buffer (kept by the cache as its spare, for
// the next build or pass over extras) and its reservation.
func (s *seqReader) close() {
	if s.fd != nil {
		s.out = s.fd.data
	}
	rest := s.held
	if s.out != nil && int64(cap(s.out)) <= rest {
		s.r.cache.park(s.out)
		rest -= int64(cap(s.out))
	}
	s.r.cache.unreserve(rest)
	s.held, s.fd, s.out, s.cmp = 0, nil, nil, nil
}

// tableBlobBad reports whether the table's own bytes fail their checks
// (a damaged frame or blob, which Verify reports as such).
func (r *Reader) tableBlobBad() bool {
	_, err := r.ReadExtra(context.Background(), ExtraKindZips, DeflatedTable)
	return err != nil
}
