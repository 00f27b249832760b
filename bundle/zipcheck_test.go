package bundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
)

// writeLyingZip writes a module zip of mv to a file: a go.mod, and a file
// big.bin of size zero bytes whose headers declare the size declared and
// the CRC-32 crc (0: the content's).
func writeLyingZip(t *testing.T, mv module.Version, size int, declared uint64, crc uint32) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, content []byte, declared uint64, crc uint32) {
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestSpeed)
		fw.Write(content)
		fw.Close()
		if crc == 0 {
			crc = crc32.ChecksumIEEE(content)
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: mv.Path + "@" + mv.Version + "/" + name, Method: zip.Deflate,
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared, CRC32: crc})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(comp.Bytes())
	}
	gomod := []byte("module " + mv.Path + "\n")
	add("go.mod", gomod, uint64(len(gomod)), 0)
	add("big.bin", make([]byte, size), declared, crc)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(name, buf.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestPrepareZipReadsEveryFileThrough: PrepareZip is the read that ends
// the check of a zip just downloaded (the resolver hands it over, see
// resolver.ZipReader), so it must refuse, naming the file, a zip bomb
// whose headers declare less than its content inflates to, and content
// whose CRC-32 is not the one declared: for small files, files large
// enough to be read in another way, and raw zips.
func TestPrepareZipReadsEveryFileThrough(t *testing.T) {
	mv := module.Version{Path: "example.com/evil", Version: "v1.0.0"}
	cases := []struct {
		name     string
		size     int
		declared uint64
		crc      uint32
		raw      bool
		want     string
	}{
		{"bomb-small", 1 << 20, 100, 0, false, "big.bin: zip: not a valid zip file"},
		{"bomb-large", 17 << 20, 16 << 20, 0, false, "big.bin: zip: not a valid zip file"},
		{"bomb-raw", 1 << 20, 100, 0, true, "zip: not a valid zip file"},
		{"crc-small", 1000, 1000, 0xdeadbeef, false, "big.bin: zip: checksum error"},
		{"crc-large", 17 << 20, 17 << 20, 0xdeadbeef, false, "big.bin"},
		{"crc-raw", 1000, 1000, 0xdeadbeef, true, "zip: checksum error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := writeLyingZip(t, mv, c.size, c.declared, c.crc)
			w, err := NewWriter(WriterOptions{TempDir: t.TempDir(), RawZips: c.raw})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			h, err := w.PrepareZip(context.Background(), mv.Path, mv.Version, file, "")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "example.com/evil@v1.0.0: ") {
				t.Fatalf("PrepareZip = %q, %v; want an error naming example.com/evil@v1.0.0 and %q", h, err, c.want)
			}
		})
	}
}
