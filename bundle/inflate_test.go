package bundle

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
)

// TestFastInflateReadsZips reads two zips in turn through inflaters from
// the pool (the second zip's readers are reset ones) and checks every
// file's content, and that a file whose CRC-32 is wrong is still refused.
func TestFastInflateReadsZips(t *testing.T) {
	files := func(seed int) map[string]string {
		m := map[string]string{}
		for i := 0; i < 20; i++ {
			m[fmt.Sprintf("f%d.go", i)] = strings.Repeat(fmt.Sprintf("package p // %d %d\n", seed, i), 50+i*seed)
		}
		return m
	}
	for round, want := range []map[string]string{files(1), files(7)} {
		zr := zipOf(t, want, false)
		useFastInflate(zr)
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, f.Name, err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if string(got) != want[f.Name] {
				t.Fatalf("round %d: %s: got %d bytes, want %d", round, f.Name, len(got), len(want[f.Name]))
			}
		}
	}
	zr := zipOf(t, map[string]string{"a.go": strings.Repeat("package a\n", 100)}, true)
	useFastInflate(zr)
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, zip.ErrChecksum) {
		t.Fatalf("file with a wrong CRC-32: err = %v, want zip.ErrChecksum", err)
	}
}

// zipOf returns a zip of files, each deflated; badCRC records a wrong
// CRC-32 for every file.
func zipOf(t *testing.T, files map[string]string, badCRC bool) *zip.Reader {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		if badCRC {
			// CreateRaw takes the CRC-32 as given: deflate by hand.
			var comp bytes.Buffer
			fw, err := flate.NewWriter(&comp, flate.DefaultCompression)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(fw, data)
			fw.Close()
			h.CRC32 = crc32.ChecksumIEEE([]byte(data)) ^ 1
			h.UncompressedSize64 = uint64(len(data))
			h.CompressedSize64 = uint64(comp.Len())
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(comp.Bytes())
			continue
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}
