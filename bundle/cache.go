package bundle

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/gobundle/gobundle/internal/fsutil"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"golang.org/x/mod/module"
)

// The writer's cache (WriterOptions.CacheDir) makes writing the same
// content again cheap, as a repeated `gobundle create` does:
//
//	zips/xx/<sha256 of zip file>     sha256 of the rest, then what reading
//	                                 the zip found: its files' names (in
//	                                 sorted order) and positions in the zip,
//	                                 sizes, sha256 and CRC, its h1:, and the
//	                                 rebuilt zip's size and sha256
//	zips-raw/xx/<sha256 of zip file> the same for WriterOptions.RawZips
//	frames/xx/<key>                  a compressed frame: sha256 of the
//	                                 compressed bytes, then the bytes
//
// A frame's key is the sha256 of the compression settings, the zstd
// library's version and the digests of the blobs in the frame, so a cached
// frame is exactly what compressing would produce and bundles stay
// byte-identical with or without the cache. Entries are written by rename
// and checked when read; a damaged entry is ignored and rebuilt.

const (
	analysisMagic = "GBZA3"
	frameKeyTag   = "gobundle frame 2"
)

func cachePath(dir, kind, key string) string {
	return filepath.Join(dir, kind, key[:2], key)
}

// analyseZip returns the content of a module zip: from the cache when its
// analysis is there (file contents are then read lazily), else by reading
// the zip, whose analysis it then stores.
func (w *Writer) analyseZip(ctx context.Context, mv module.Version, name, zipSHA string) (*zipContent, error) {
	if w.opts.CacheDir == "" {
		w.zipsRead.Add(1)
		return w.readZip(ctx, mv, name)
	}
	if zipSHA == "" {
		sum, err := fsutil.FileSHA256(name)
		if err != nil {
			return nil, err
		}
		zipSHA = sum
	}
	if len(zipSHA) != 64 {
		return nil, fmt.Errorf("bad zip sha256 %q", zipSHA)
	}
	// The analysis records module and version too; a zip whose bytes are
	// filed under another module version is read afresh.
	kind := "zips"
	if w.opts.RawZips {
		kind = "zips-raw" // the other layout: a cached analysis must not cross over
	} else if w.opts.NoDeflate {
		kind = "zips-nodeflate" // no deflated form: neither may this
	}
	path := cachePath(w.opts.CacheDir, kind, zipSHA)
	if data, err := os.ReadFile(path); err == nil && len(data) > sha256.Size {
		body := data[sha256.Size:]
		if sum := sha256.Sum256(body); string(sum[:]) == string(data[:sha256.Size]) {
			if zc, ok := decodeAnalysis(body, mv, name); ok {
				return zc, nil
			}
		}
	}
	w.zipsRead.Add(1)
	zc, err := w.readZip(ctx, mv, name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err == nil {
		body := encodeAnalysis(zc, mv)
		sum := sha256.Sum256(body)
		fsutil.WriteFileAtomic(path, sum[:], body) // a cache: failing to write it is not an error
	}
	return zc, nil
}

func encodeAnalysis(zc *zipContent, mv module.Version) []byte {
	e := &encoder{}
	e.b = append(e.b, analysisMagic...)
	e.str(mv.Path)
	e.str(mv.Version)
	e.str(zc.hash)
	if zc.raw != nil {
		e.b = append(e.b, 1)
		e.uvarint(uint64(zc.raw.size))
		e.sum(zc.raw.sum)
		e.u32(zc.raw.crc)
		return e.b
	}
	e.b = append(e.b, 0)
	e.uvarint(uint64(zc.size))
	e.sum(zc.sum)
	e.uvarint(uint64(zc.mirrorSize))
	e.uvarint(uint64(zc.deflSize))
	e.sum(zc.deflSum)
	e.uvarint(uint64(len(zc.names)))
	for i, n := range zc.names {
		c := zc.files[i]
		e.str(n)
		e.uvarint(uint64(c.zipIndex))
		e.uvarint(uint64(c.size))
		e.sum(c.sum)
		e.u32(c.crc)
	}
	return e.b
}

// decodeAnalysis reads a cached analysis; its contents become lazy reads
// of zip file name.
func decodeAnalysis(data []byte, mv module.Version, name string) (*zipContent, bool) {
	d := &decoder{b: data}
	if string(d.bytes(len(analysisMagic))) != analysisMagic || d.str() != mv.Path || d.str() != mv.Version {
		return nil, false
	}
	zc := &zipContent{hash: d.str()}
	raw := d.bytes(1)
	if d.err != nil {
		return nil, false
	}
	if raw[0] == 1 {
		c := content{size: d.size(), sum: d.sum(), crc: d.u32(), zipPath: name, zipIndex: -1}
		zc.raw = &c
	} else {
		zc.size = d.size()
		zc.sum = d.sum()
		zc.mirrorSize = d.size()
		zc.deflSize = d.size()
		zc.deflSum = d.sum()
		n := d.count(minBlobBytes)
		for range n {
			zc.names = append(zc.names, d.str())
			idx := d.uvarint()
			if idx > maxCount {
				return nil, false
			}
			zc.files = append(zc.files, content{size: d.size(), sum: d.sum(), crc: d.u32(), zipPath: name, zipIndex: int(idx)})
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, false
	}
	return zc, true
}

// zstdVersion is the version of the zstd library, part of frame keys: a
// different library may compress differently.
func zstdVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/klauspost/compress" {
				if dep.Replace != nil {
					return dep.Replace.Path + "@" + dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "unknown"
}

// frameKey names a frame by the compression settings, the zstd version and
// its blobs: the same key means the same compressed bytes.
func (w *Writer) frameKey(blobs []*wblob) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\nlevel %d window %d\n", frameKeyTag, zstdVersion(), w.opts.Level, w.window())
	for _, b := range blobs {
		h.Write(b.sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hasCachedFrame reports whether the cache holds the frame for key.
func (w *Writer) hasCachedFrame(key string) bool {
	if w.opts.CacheDir == "" {
		return false
	}
	_, err := os.Stat(cachePath(w.opts.CacheDir, "frames", key))
	return err == nil
}

// cachedFrame returns the cached compressed frame for key, or nil.
func (w *Writer) cachedFrame(key string) []byte {
	if w.opts.CacheDir == "" {
		return nil
	}
	data, err := os.ReadFile(cachePath(w.opts.CacheDir, "frames", key))
	if err != nil || len(data) < sha256.Size {
		return nil
	}
	comp := data[sha256.Size:]
	if sum := sha256.Sum256(comp); string(sum[:]) != string(data[:sha256.Size]) {
		return nil
	}
	return comp
}

func (w *Writer) storeFrame(key string, comp []byte) {
	if w.opts.CacheDir == "" {
		return
	}
	path := cachePath(w.opts.CacheDir, "frames", key)
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return
	}
	sum := sha256.Sum256(comp)
	// In two parts: joined, a copy of each frame (16 MB at the best
	// level) was held per worker while it was written.
	fsutil.WriteFileAtomic(path, sum[:], comp)
}

// frameChunk is how much of a frame's content is read at a time while it
// is compressed: a frame is streamed through its encoder, never held whole.
const frameChunk = 1 << 20

// copyFrameContent writes the uncompressed content of a frame to dst, from
// the spool and, for content known only from a cached analysis, from the
// zips (each checked against its sha256), frameChunk bytes at a time. It
// stops between chunks once ctx is done.
func (w *Writer) copyFrameContent(ctx context.Context, dst io.Writer, blobs []blobSource) error {
	buf := make([]byte, frameChunk)
	zips := map[string]*zip.ReadCloser{}
	defer func() {
		for _, z := range zips {
			z.Close()
		}
	}()
	for i := 0; i < len(blobs); {
		b := blobs[i]
		if b.spoolOff < 0 {
			if err := copyLazy(ctx, zips, b, dst, buf); err != nil {
				return err
			}
			i++
			continue
		}
		// Blobs spooled one after the other are read as one run.
		j, n := i+1, b.size
		for j < len(blobs) && blobs[j].spoolOff == b.spoolOff+n {
			n += blobs[j].size
			j++
		}
		for off := int64(0); off < n; {
			if err := ctx.Err(); err != nil {
				return err
			}
			c := min(n-off, frameChunk)
			if err := w.spool.ReadAt(buf[:c], b.spoolOff+off); err != nil {
				return err
			}
			if _, err := dst.Write(buf[:c]); err != nil {
				return err
			}
			off += c
		}
		i = j
	}
	return nil
}

// blobSource is where a blob's content is, copied from the blob while the
// writer's lock is held, so that frames are assembled without it.
type blobSource struct {
	sum      Sum
	size     int64
	spoolOff int64
	zipPath  string
	zipIndex int
}

func sourcesOf(blobs []*wblob) []blobSource {
	out := make([]blobSource, len(blobs))
	for i, b := range blobs {
		out[i] = blobSource{sum: b.sum, size: b.size, spoolOff: b.spoolOff, zipPath: b.zipPath, zipIndex: b.zipIndex}
	}
	return out
}

// copyLazy copies blob b from its zip to dst and checks its sha256: the
// zip must not have changed since it was analysed.
func copyLazy(ctx context.Context, zips map[string]*zip.ReadCloser, b blobSource, dst io.Writer, buf []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var rc io.ReadCloser
	if b.zipIndex < 0 {
		f, err := os.Open(b.zipPath)
		if err != nil {
			return err
		}
		rc = f
	} else {
		z := zips[b.zipPath]
		if z == nil {
			var err error
			if z, err = zip.OpenReader(b.zipPath); err != nil {
				return err
			}
			zips[b.zipPath] = z
		}
		if b.zipIndex >= len(z.File) {
			return fmt.Errorf("%s: changed since it was read (file %d missing)", b.zipPath, b.zipIndex)
		}
		var err error
		if rc, err = z.File[b.zipIndex].Open(); err != nil {
			return fmt.Errorf("%s: %w", b.zipPath, err)
		}
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(dst, h), io.LimitReader(rc, b.size), buf)
	if err != nil {
		return fmt.Errorf("%s: %w", b.zipPath, err)
	}
	if n != b.size || Sum(h.Sum(nil)) != b.sum {
		return fmt.Errorf("%s: changed since it was read (content sha256 differs)", b.zipPath)
	}
	return nil
}
