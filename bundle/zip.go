package bundle

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"golang.org/x/mod/semver"
)

// Rebuilt zips use the "stored" method (no compression) with fixed headers:
// their bytes follow from the index alone, so a reader can serve any byte
// range of a zip without building it, and the zip's sha256 and size are
// known before the first byte is sent. The go command checks a module zip by
// the h1: hash of its files, which a rebuilt zip keeps exactly.

const (
	zipLocalHeaderLen   = 30
	zipCentralHeaderLen = 46
	zipEndLen           = 22
	zipFlags            = 0x800 // names are UTF-8
	zipVersion          = 20
	zipDOSDate          = 0x21 // 1980-01-01
)

// zipPrefix is the directory every file of a module zip lives in.
func zipPrefix(path, version string) string { return path + "@" + version + "/" }

// zipLayoutSize returns the size of the rebuilt zip of m, or an error when
// the files cannot be laid out in a plain (non-zip64) zip.
func zipLayoutSize(m *modEntry, blobs []blobEntry) (int64, error) {
	if len(m.files) > math.MaxUint16 {
		return 0, fmt.Errorf("%d files in one zip", len(m.files))
	}
	plen := int64(len(zipPrefix(m.path, m.version)))
	var size int64
	for _, f := range m.files {
		n := plen + int64(len(f.name))
		if n > math.MaxUint16 {
			return 0, fmt.Errorf("zip file name too long: %s", f.name)
		}
		if f.blob >= uint32(len(blobs)) {
			return 0, fmt.Errorf("zip file %s: blob out of range", f.name)
		}
		size += zipLocalHeaderLen + n + blobs[f.blob].size + zipCentralHeaderLen + n
		if size >= math.MaxUint32 {
			return 0, fmt.Errorf("zip larger than 4 GiB")
		}
	}
	return size + zipEndLen, nil
}

// zipLayout locates every part of a rebuilt zip.
type zipLayout struct {
	prefix  string
	m       *modEntry
	blobs   []blobEntry
	local   []int64 // offset of each file's local header
	cdStart int64
	size    int64
}

func newZipLayout(m *modEntry, blobs []blobEntry) *zipLayout {
	l := &zipLayout{prefix: zipPrefix(m.path, m.version), m: m, blobs: blobs, local: make([]int64, len(m.files))}
	var off int64
	for i, f := range m.files {
		l.local[i] = off
		off += zipLocalHeaderLen + int64(len(l.prefix)+len(f.name)) + blobs[f.blob].size
	}
	l.cdStart = off
	l.size = m.zipSize
	return l
}

func (l *zipLayout) localHeader(i int) []byte {
	f := l.m.files[i]
	b := l.blobs[f.blob]
	return localHeader(l.prefix+f.name, b.crc, b.size)
}

// localHeader is the local file header of a stored file.
func localHeader(name string, crc uint32, size int64) []byte {
	return fileHeader(false, name, zipMethodStore, crc, size, size, 0)
}

// fileHeader is the local (central false) or central directory header of
// one file of a rebuilt or deflated zip: method, CRC-32, compressed and
// uncompressed sizes, and for the central directory the local header's
// offset; everything else is fixed (DOS date 1980-01-01, UTF-8 flag, no
// extra fields, comment or attributes).
func fileHeader(central bool, name string, method uint16, crc uint32, csize, size int64, off uint32) []byte {
	n := zipLocalHeaderLen
	if central {
		n = zipCentralHeaderLen
	}
	h := make([]byte, n, n+len(name))
	f := h[4:] // the fields after the signature, shifted by 2 in the central directory
	if central {
		binary.LittleEndian.PutUint32(h[0:], 0x02014b50)
		binary.LittleEndian.PutUint16(h[4:], zipVersion) // made by
		f = h[6:]
		// extra, comment, disk, internal and external attributes stay 0
		binary.LittleEndian.PutUint32(h[42:], off)
	} else {
		binary.LittleEndian.PutUint32(h[0:], 0x04034b50)
	}
	binary.LittleEndian.PutUint16(f[0:], zipVersion)
	binary.LittleEndian.PutUint16(f[2:], zipFlags)
	binary.LittleEndian.PutUint16(f[4:], method)
	binary.LittleEndian.PutUint16(f[6:], 0)
	binary.LittleEndian.PutUint16(f[8:], zipDOSDate)
	binary.LittleEndian.PutUint32(f[10:], crc)
	binary.LittleEndian.PutUint32(f[14:], uint32(csize))
	binary.LittleEndian.PutUint32(f[18:], uint32(size))
	binary.LittleEndian.PutUint16(f[22:], uint16(len(name)))
	return append(h, name...)
}

// centralDirectory returns the central directory and end record.
func (l *zipLayout) centralDirectory() []byte {
	var out []byte
	for i, f := range l.m.files {
		b := l.blobs[f.blob]
		out = append(out, fileHeader(true, l.prefix+f.name, zipMethodStore, b.crc, b.size, b.size, uint32(l.local[i]))...)
	}
	end := make([]byte, zipEndLen)
	binary.LittleEndian.PutUint32(end[0:], 0x06054b50)
	binary.LittleEndian.PutUint16(end[8:], uint16(len(l.m.files)))
	binary.LittleEndian.PutUint16(end[10:], uint16(len(l.m.files)))
	binary.LittleEndian.PutUint32(end[12:], uint32(l.size-zipEndLen-l.cdStart))
	binary.LittleEndian.PutUint32(end[16:], uint32(l.cdStart))
	return append(out, end...)
}

// modLess orders module entries by path, then semantic version.
func modLess(a, b *modEntry) bool {
	if a.path != b.path {
		return a.path < b.path
	}
	return versionLess(a.version, b.version)
}

func versionLess(a, b string) bool {
	if c := semver.Compare(a, b); c != 0 {
		return c < 0
	}
	return a < b
}

// splitZipName removes the module@version/ prefix from a zip file name.
func splitZipName(name, prefix string) (string, bool) {
	return strings.CutPrefix(name, prefix)
}
