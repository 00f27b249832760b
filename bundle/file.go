package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

// File is one module file opened from a bundle. It implements io.Reader,
// io.ReaderAt and io.Seeker; every byte it returns belongs to a blob whose
// sha256 was checked after decompression. A File is not safe for
// concurrent use; open one per goroutine.
type File struct {
	r   *Reader
	ctx context.Context
	// path, version and kind name the entry in errors.
	path, version string
	kind          FileKind
	info          FileInfo
	pos           int64

	blob   uint32     // info, mod, raw zip
	layout *zipLayout // rebuilt zip
	cd     []byte     // central directory, built on first use

	// last blob read from a frame too large for the cache, verified
	lastBlob uint32
	lastData []byte
}

// OpenFile opens the kind file of module path@version. A file the bundle
// does not hold gives an error wrapping fs.ErrNotExist. ctx bounds the
// file's reads.
func (r *Reader) OpenFile(ctx context.Context, path, version string, kind FileKind) (*File, error) {
	m := r.find(path, version)
	notExist := func() error {
		return fmt.Errorf("%s: %s@%s %s: %w", r.name, path, version, kind, fs.ErrNotExist)
	}
	if m == nil {
		return nil, notExist()
	}
	f := &File{r: r, ctx: ctx, path: path, version: version, kind: kind, lastBlob: noBlob}
	switch kind {
	case KindInfo, KindMod:
		ref, origin := m.info, m.infoOrigin
		if kind == KindMod {
			ref, origin = m.mod, m.modOrigin
		}
		if ref == noBlob {
			return nil, notExist()
		}
		b := r.ix.blobs[ref]
		f.blob = ref
		f.info = FileInfo{Size: b.size, SHA256: b.sum, Origin: r.origin(origin)}
	case KindZip:
		f.info = FileInfo{Size: m.zipSize, SHA256: m.zipSum, Origin: r.origin(m.zipOrigin)}
		switch m.zipKind {
		case zipNone:
			return nil, notExist()
		case zipRaw:
			f.blob = m.zipBlob
		case zipRebuilt:
			f.layout = newZipLayout(m, r.ix.blobs)
		}
	default:
		return nil, fmt.Errorf("unknown file kind %d", kind)
	}
	return f, nil
}

// Size returns the file's size in bytes.
func (f *File) Size() int64 { return f.info.Size }

// SHA256 returns the sha256 of the file's bytes as the index records it.
func (f *File) SHA256() Sum { return f.info.SHA256 }

// Info returns the file's size, digest and origin.
func (f *File) Info() FileInfo { return f.info }

// Close releases the file.
func (f *File) Close() error { f.lastData = nil; f.cd = nil; return nil }

// Read implements io.Reader.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.info.Size
	default:
		return 0, errors.New("bundle: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("bundle: negative position")
	}
	f.pos = offset
	return offset, nil
}

// readBlob copies bytes of blob i from off into p. From a cached frame it
// copies only what p asks for, so a reader in progress holds no copy of a
// file; from a frame too large to cache it keeps a verified copy of the
// blob for the next reads.
func (f *File) readBlob(i uint32, p []byte, off int64) (int, error) {
	if i == f.lastBlob {
		return copy(p, f.lastData[off:]), nil
	}
	if err := f.ctx.Err(); err != nil {
		return 0, err
	}
	data, cached, err := f.r.blobSlice(f.ctx, i, f.path+"@"+f.version+" "+f.kind.String())
	if err != nil {
		return 0, err
	}
	if !cached {
		f.lastBlob, f.lastData = i, bytes.Clone(data)
	}
	return copy(p, data[off:]), nil
}

// ReadAt implements io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("bundle: negative offset")
	}
	if off >= f.info.Size {
		return 0, io.EOF
	}
	if f.layout == nil {
		n, err := f.readBlob(f.blob, p, off)
		if err != nil {
			return n, err
		}
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	n := 0
	for n < len(p) && off < f.info.Size {
		m, err := f.zipReadAt(p[n:], off)
		n += m
		off += int64(m)
		if err != nil {
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// zipReadAt copies bytes of the rebuilt zip at off from the part that
// holds off: a local header, a file's content, or the central directory.
func (f *File) zipReadAt(p []byte, off int64) (int, error) {
	l := f.layout
	if off >= l.cdStart {
		if f.cd == nil {
			f.cd = l.centralDirectory()
		}
		return copy(p, f.cd[off-l.cdStart:]), nil
	}
	i := sort.Search(len(l.local), func(i int) bool { return l.local[i] > off }) - 1
	hdrLen := int64(zipLocalHeaderLen + len(l.prefix) + len(l.m.files[i].name))
	rel := off - l.local[i]
	if rel < hdrLen {
		return copy(p, l.localHeader(i)[rel:]), nil
	}
	return f.readBlob(l.m.files[i].blob, p, rel-hdrLen)
}
