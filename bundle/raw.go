package bundle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/dirhash"
)

// RawBundle describes a bundle entry by entry, as the format encodes it,
// for tests and fuzzers of readers. [RawBundle.Encode] computes every
// checksum (frames, blobs, zips, index, trailer) the way an attacker who
// swapped a bundle would, so that only a reader's structural checks and
// bounds stand between its result and the reader. A [Writer] never writes
// most of what it can describe.
type RawBundle struct {
	Meta    Meta
	Origins []string
	Frames  []RawFrame
	Blobs   []RawBlob
	Modules []RawModule
	Extras  []RawExtra
}

// RawFrame is one data frame: Content followed by Zeros zero bytes.
type RawFrame struct {
	Content []byte
	Zeros   int64
}

// Size is the frame's raw size.
func (f RawFrame) Size() int64 { return int64(len(f.Content)) + f.Zeros }

// RawBlob is a blob: Size bytes at Offset in frame Frame.
type RawBlob struct {
	Frame        int
	Offset, Size int64
}

// RawModule is a module version. Info and Mod are blob numbers plus one
// (0: none). A zip is rebuilt from Files when Files is not nil, raw from
// blob ZipBlob-1 when ZipBlob is not 0, else absent. ZipHash "" stands for
// the h1: of the files (the last one of a name wins, as a lookup by name
// finds), ZipSize 0 and a zero ZipSHA256 for those of the zip as served.
type RawModule struct {
	Path, Version string
	Info, Mod     int
	ModHash       string
	Files         []RawZipFile
	ZipBlob       int
	ZipHash       string
	ZipSize       int64
	ZipSHA256     Sum
}

// RawZipFile is a file of a rebuilt zip: its name after "path@version/"
// and its blob number.
type RawZipFile struct {
	Name string
	Blob int
}

// RawExtra is an extra blob (blob number Blob).
type RawExtra struct {
	Kind, Name string
	Blob       int
}

// Encode writes the bundle to w. Frames are compressed as a Writer
// compresses them, with the content size in their headers.
func (rb *RawBundle) Encode(w io.Writer) error {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithZeroFrames(true))
	if err != nil {
		return err
	}
	defer enc.Close()
	ix := &index{meta: rb.Meta, origins: rb.Origins}
	header := encodeHeader(0)
	if _, err := w.Write(header); err != nil {
		return err
	}
	off := int64(headerSize)
	for _, f := range rb.Frames {
		comp, err := compressRawFrame(enc, f)
		if err != nil {
			return err
		}
		ix.frames = append(ix.frames, frameEntry{off: off, clen: int64(len(comp)), ulen: f.Size(), sum: sha256.Sum256(comp)})
		off += int64(len(comp))
		if _, err := w.Write(comp); err != nil {
			return err
		}
	}
	contents := make([][]byte, len(rb.Blobs))
	for i, b := range rb.Blobs {
		if b.Frame < 0 || b.Frame >= len(rb.Frames) || b.Offset < 0 || b.Size < 0 || b.Offset+b.Size > rb.Frames[b.Frame].Size() {
			return fmt.Errorf("raw bundle: blob %d out of its frame", i)
		}
		contents[i] = rb.Frames[b.Frame].slice(b.Offset, b.Size)
		ix.blobs = append(ix.blobs, blobEntry{frame: uint32(b.Frame), off: b.Offset, size: b.Size,
			sum: sha256.Sum256(contents[i]), crc: crc32.ChecksumIEEE(contents[i])})
	}
	for _, m := range rb.Modules {
		e, err := rb.module(m, ix.blobs, contents)
		if err != nil {
			return err
		}
		ix.mods = append(ix.mods, e)
	}
	for _, x := range rb.Extras {
		ix.extras = append(ix.extras, extraEntry{kind: x.Kind, name: x.Name, blob: uint32(x.Blob)})
	}
	raw := ix.encode()
	comp := enc.EncodeAll(raw, nil)
	if _, err := w.Write(comp); err != nil {
		return err
	}
	t := trailer{indexOff: off, indexLen: int64(len(comp)), indexRawLen: int64(len(raw)), indexSum: sha256.Sum256(comp), version: FormatVersion}
	_, err = w.Write(encodeTrailer(t, header))
	return err
}

// slice returns size bytes of the frame's content at off.
func (f RawFrame) slice(off, size int64) []byte {
	out := make([]byte, size)
	if off < int64(len(f.Content)) {
		copy(out, f.Content[off:])
	}
	return out
}

// compressRawFrame compresses a frame, streaming its zeros so that a
// large frame needs no buffer of its size.
func compressRawFrame(enc *zstd.Encoder, f RawFrame) ([]byte, error) {
	if f.Zeros == 0 {
		return enc.EncodeAll(f.Content, nil), nil
	}
	var buf bytes.Buffer
	enc.ResetContentSize(&buf, f.Size())
	if _, err := enc.Write(f.Content); err != nil {
		return nil, err
	}
	if _, err := io.CopyN(enc, zeroReader{}, f.Zeros); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// module builds the index entry of m, computing what it leaves out.
func (rb *RawBundle) module(m RawModule, blobs []blobEntry, contents [][]byte) (modEntry, error) {
	ref := func(n int) uint32 {
		if n == 0 {
			return noBlob
		}
		return uint32(n - 1)
	}
	e := modEntry{path: m.Path, version: m.Version, info: ref(m.Info), mod: ref(m.Mod), modHash: m.ModHash,
		zipHash: m.ZipHash, zipSize: m.ZipSize, zipSum: m.ZipSHA256}
	switch {
	case m.Files != nil:
		e.zipKind = zipRebuilt
		byName := map[string][]byte{}
		var names []string
		for _, f := range m.Files {
			if f.Blob < 0 || f.Blob >= len(blobs) {
				return e, fmt.Errorf("raw bundle: %s@%s: file %s: no blob %d", m.Path, m.Version, f.Name, f.Blob)
			}
			e.files = append(e.files, zipFile{name: f.Name, blob: uint32(f.Blob)})
			names = append(names, zipPrefix(m.Path, m.Version)+f.Name)
			byName[names[len(names)-1]] = contents[f.Blob]
		}
		if e.zipHash == "" {
			h, err := dirhash.Hash1(names, func(n string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(byName[n])), nil })
			if err != nil {
				return e, err
			}
			e.zipHash = h
		}
		if e.zipSize == 0 {
			size, err := zipLayoutSize(&e, blobs)
			if err != nil {
				return e, fmt.Errorf("raw bundle: %s@%s: %v", m.Path, m.Version, err)
			}
			e.zipSize = size
		}
		if e.zipSum == (Sum{}) {
			e.zipSum = rebuiltZipSum(&e, blobs, contents)
		}
	case m.ZipBlob != 0:
		e.zipKind, e.zipBlob = zipRaw, uint32(m.ZipBlob-1)
		if int(e.zipBlob) >= len(blobs) {
			return e, errors.New("raw bundle: raw zip blob out of range")
		}
		if e.zipSize == 0 {
			e.zipSize = blobs[e.zipBlob].size
		}
		if e.zipSum == (Sum{}) {
			e.zipSum = sha256.Sum256(contents[e.zipBlob])
		}
		if e.zipHash == "" {
			e.zipHash = "h1:"
		}
	}
	return e, nil
}

// rebuiltZipSum is the sha256 of the zip a reader serves for e.
func rebuiltZipSum(e *modEntry, blobs []blobEntry, contents [][]byte) Sum {
	l := newZipLayout(e, blobs)
	h := sha256.New()
	for i, f := range e.files {
		h.Write(l.localHeader(i))
		h.Write(contents[f.blob])
	}
	h.Write(l.centralDirectory())
	return Sum(h.Sum(nil))
}
