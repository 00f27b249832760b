package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// sourceText is deterministic Go-like text of about n bytes: it deflates
// about as real source does (3-5x).
func sourceText(seed, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "package p%d\n\nimport \"fmt\"\n\n", seed)
	for i := 0; b.Len() < n; i++ {
		x := (i*7919 + seed*104729) % 1000
		fmt.Fprintf(&b, "// F%d returns the %dth value of the table, or an error when\n// the index is out of range (%d).\n", i, x, x*3)
		fmt.Fprintf(&b, "func F%d(v%d int) (int, error) {\n\tif v%d > %d {\n\t\treturn 0, fmt.Errorf(\"index %%d > %d\", v%d)\n\t}\n\treturn v%d * %d, nil\n}\n\n", i, x, x, x, x, x, x, x%97)
	}
	return b.Bytes()
}

// deflatableModules are modules of source-like files, zipped by x/mod/zip
// (deflated, as mirrors serve them), plus one of random bytes that
// deflate cannot shrink.
func deflatableModules() []testModule {
	var files []testFile
	files = append(files, testFile{"go.mod", []byte("module example.com/src\n\ngo 1.21\n")}, testFile{"empty.go", nil})
	for i := range 12 {
		files = append(files, testFile{fmt.Sprintf("pkg%d/f.go", i), sourceText(i, 20<<10)})
	}
	mods := sampleModules()
	return append(mods, testModule{path: "example.com/src", version: "v1.0.0", files: files})
}

// packDeflatable packs deflatableModules with opts into a bundle file
// and opens it.
func packDeflatable(t *testing.T, opts WriterOptions) (*Reader, string) {
	t.Helper()
	src := t.TempDir()
	writeTree(t, src, deflatableModules())
	out := filepath.Join(t.TempDir(), "b.gobundle")
	packTree(t, src, out, opts)
	r, err := Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, out
}

// TestServedZipDeflated checks the zips a reader hands out (WriteZip,
// Unpack): no larger than the mirror's (±10 %), the same h1: as the
// original, valid for x/mod/zip, with the size and sha256 the index
// records and ServedFiles lists, and the mirror's size recorded.
func TestServedZipDeflated(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	mods := deflatableModules()
	writeTree(t, src, mods)
	out := filepath.Join(t.TempDir(), "b.gobundle")
	packTree(t, src, out, WriterOptions{})
	r, err := Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dst := t.TempDir()
	if err := r.Unpack(ctx, dst, nil); err != nil {
		t.Fatal(err)
	}
	served, err := r.ServedFiles()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]ServedFile{}
	for _, f := range served {
		byPath[f.Path] = f
	}
	var mirrorTotal, servedTotal, storedTotal int64
	for _, m := range r.Modules() {
		if m.Zip == nil {
			continue
		}
		mv := module.Version{Path: m.Path, Version: m.Version}
		rel := filepath.Join(escaped(t, mv), "@v", escapedVersion(t, mv)+".zip")
		orig, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		fi, err := r.WriteZip(ctx, m.Path, m.Version, &buf)
		if err != nil {
			t.Fatalf("%s: %v", mv, err)
		}
		got := buf.Bytes()
		if fi != *m.Zip || int64(len(got)) != m.Zip.Size || Sum(sha256.Sum256(got)) != m.Zip.SHA256 {
			t.Errorf("%s: served %d bytes, sha256 %x; index says %+v", mv, len(got), sha256.Sum256(got), *m.Zip)
		}
		if m.ZipStored == nil || m.ZipStored.Size < m.Zip.Size {
			t.Errorf("%s: no stored form beside the deflated one, or a smaller one: %+v", mv, m.ZipStored)
		}
		if m.ZipMirrorSize != int64(len(orig)) {
			t.Errorf("%s: mirror size %d recorded, want %d", mv, m.ZipMirrorSize, len(orig))
		}
		if unpacked, err := os.ReadFile(filepath.Join(dst, rel)); err != nil || !bytes.Equal(unpacked, got) {
			t.Errorf("%s: unpack wrote other bytes than WriteZip (%v)", mv, err)
		}
		if sf := byPath[filepath.ToSlash(rel)]; sf.Size != m.Zip.Size || sf.SHA256 != m.Zip.SHA256 {
			t.Errorf("%s: ServedFiles says %+v, index %+v", mv, sf, *m.Zip)
		}
		zipFile := filepath.Join(t.TempDir(), "z.zip")
		os.WriteFile(zipFile, got, 0o666)
		if cf, err := modzip.CheckZip(mv, zipFile); err != nil || cf.Err() != nil {
			t.Errorf("%s: served zip fails x/mod/zip's checks: %v %v", mv, err, cf.Err())
		}
		h1, err := dirhash.HashZip(zipFile, dirhash.Hash1)
		origFile := filepath.Join(src, rel)
		h1orig, _ := dirhash.HashZip(origFile, dirhash.Hash1)
		if err != nil || h1 != h1orig || h1 != m.ZipHash {
			t.Errorf("%s: served zip h1 %s (%v), original %s, index %s", mv, h1, err, h1orig, m.ZipHash)
		}
		if float64(len(got)) > 1.1*float64(len(orig)) {
			t.Errorf("%s: served zip %d bytes, %.2fx the mirror's %d", mv, len(got), float64(len(got))/float64(len(orig)), len(orig))
		}
		mirrorTotal += int64(len(orig))
		servedTotal += int64(len(got))
		storedTotal += m.ZipStored.Size
		// Without the feature, source is served at about 4x.
		if m.Path == "example.com/src" && len(got)*3 > int(m.ZipStored.Size) {
			t.Errorf("%s: served %d bytes, stored form %d: deflate saved less than 3x", mv, len(got), m.ZipStored.Size)
		}
	}
	st := r.Stats()
	if st.ZipBytes != servedTotal || st.ZipMirrorBytes != mirrorTotal || st.ZipStoredBytes != storedTotal || st.ZipsDeflated != st.Zips {
		t.Errorf("stats %+v; served %d, mirror %d, stored %d", st, servedTotal, mirrorTotal, storedTotal)
	}
	t.Logf("zips: mirror %d, served %d (%.3fx), stored %d (%.3fx)", mirrorTotal, servedTotal,
		float64(servedTotal)/float64(mirrorTotal), storedTotal, float64(storedTotal)/float64(mirrorTotal))
}

func escaped(t *testing.T, mv module.Version) string {
	p, err := module.EscapePath(mv.Path)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.FromSlash(p)
}

func escapedVersion(t *testing.T, mv module.Version) string {
	v, err := module.EscapeVersion(mv.Version)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDeflatedZipGolden pins the compressor's output: DeflatedTable's
// name promises these bytes for these contents. When a dependency update
// changes them, bundles written before would be served stored by the new
// build (correct, but four times larger): keep the old compressor under
// this name, or give the new one a new table name.
func TestDeflatedZipGolden(t *testing.T) {
	d := newDeflatedSum()
	for i := range 8 {
		data := sourceText(i, 8<<10)
		if err := d.add(fmt.Sprintf("example.com/golden@v1.0.0/f%d.go", i), data, crc32IEEE(data)); err != nil {
			t.Fatal(err)
		}
	}
	size, sum, err := d.result()
	if err != nil {
		t.Fatal(err)
	}
	const want = "12620 6b762b9832b0257f9707b041929228e467bb77b417a8d928a4eeeaae3b3f8861"
	if got := fmt.Sprintf("%d %s", size, sum); got != want {
		t.Fatalf("deflated zip is %s, want %s: the compressor's output changed (see this test's comment)", got, want)
	}
}

// TestDeflatedNotReproduced: a table whose sha256 this build's
// compressor does not reproduce (a bundle of another compressor) makes
// WriteZip fail with ErrNotReproduced, and Unpack write the stored zip,
// checked against its own sha256, with a warning.
func TestDeflatedNotReproduced(t *testing.T) {
	ctx := context.Background()
	r, _ := packDeflatable(t, WriterOptions{})
	m := r.find("example.com/src", "v1.0.0")
	m.deflSum[0] ^= 1
	if _, err := r.WriteZip(ctx, m.path, m.version, io.Discard); !errors.Is(err, ErrNotReproduced) {
		t.Fatalf("WriteZip of an unreproducible zip: %v", err)
	}
	dst := t.TempDir()
	var warnings []string
	if err := r.Unpack(ctx, dst, func(ev Event) {
		if ev.Phase == "warning" {
			warnings = append(warnings, ev.Item)
		}
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dst, "example.com/src/@v/v1.0.0.zip"))
	if Sum(sha256.Sum256(got)) != m.zipSum || len(warnings) != 1 || !strings.Contains(warnings[0], "example.com/src@v1.0.0") {
		t.Fatalf("unpack wrote %d bytes (stored form is %d), warnings %q", len(got), m.zipSize, warnings)
	}
}

// TestDeflatedCorruptNeverWritten: a damaged content frame makes WriteZip
// fail with ErrCorrupt before it writes any byte of the damaged file, and
// Unpack leaves no zip behind.
func TestDeflatedCorruptNeverWritten(t *testing.T) {
	ctx := context.Background()
	r0, out := packDeflatable(t, WriterOptions{})
	m := r0.find("example.com/src", "v1.0.0")
	last := m.files[len(m.files)-1]
	fr := r0.ix.frames[r0.ix.blobs[last.blob].frame]
	data, _ := os.ReadFile(out)
	data[fr.off+fr.clen/2] ^= 0xff
	r, err := NewReader(ctx, bytes.NewReader(data), int64(len(data)), "b")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := r.WriteZip(ctx, "example.com/src", "v1.0.0", &buf); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "example.com/src@v1.0.0 zip") {
		t.Fatalf("WriteZip of a corrupt zip: %v", err)
	}
	if zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len())); err == nil {
		t.Fatalf("WriteZip wrote a complete zip of %d files before failing", len(zr.File))
	}
	dst := t.TempDir()
	if err := r.Unpack(ctx, dst, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Unpack of a corrupt bundle: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "example.com/src/@v/v1.0.0.zip")); err == nil {
		t.Fatal("Unpack left the corrupt zip behind")
	}
}

// TestNoDeflate: a bundle written without deflated forms (as before
// they existed) serves its stored zips, checked; the mirror's sizes are
// still recorded.
func TestNoDeflate(t *testing.T) {
	ctx := context.Background()
	r, _ := packDeflatable(t, WriterOptions{NoDeflate: true})
	m, _ := r.Module("example.com/src", "v1.0.0")
	var buf bytes.Buffer
	fi, err := r.WriteZip(ctx, m.Path, m.Version, &buf)
	if err != nil || fi != *m.Zip || m.ZipStored != nil || m.ZipMirrorSize == 0 || Sum(sha256.Sum256(buf.Bytes())) != m.Zip.SHA256 {
		t.Fatalf("stored zip: %+v %v, module %+v", fi, err, m)
	}
	if st := r.Stats(); st.ZipsDeflated != 0 || st.ZipBytes != st.ZipStoredBytes {
		t.Fatalf("stats %+v", st)
	}
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// TestHostileZipTable: a table of deflated zips that breaks its bounds
// (checksums recomputed, as an attacker would) is dropped whole, named,
// and the zips are served stored and checked; the bundle stays readable.
func TestHostileZipTable(t *testing.T) {
	ctx := context.Background()
	files := []byte("module example.com/h\npackage h\n")
	cases := map[string][]zipExtra{
		"deflated larger than stored": {{mod: 0, deflSize: 1 << 20}},
		"module out of range":         {{mod: 7, mirrorSize: 10}},
		"not increasing":              {{mod: 0, mirrorSize: 10}, {mod: 0, mirrorSize: 11}},
		"mirror zip too large":        {{mod: 0, mirrorSize: 1 << 40}},
	}
	for name, rows := range cases {
		t.Run(name, func(t *testing.T) {
			table := encodeZipTable(rows)
			rb := &RawBundle{
				Frames: []RawFrame{{Content: append(append([]byte(nil), files...), table...)}},
				Blobs:  []RawBlob{{0, 0, 21}, {0, 21, int64(len(files) - 21)}, {0, int64(len(files)), int64(len(table))}},
				Modules: []RawModule{{Path: "example.com/h", Version: "v1.0.0", Mod: 1,
					Files: []RawZipFile{{"go.mod", 0}, {"h.go", 1}}}},
				Extras: []RawExtra{{Kind: ExtraKindZips, Name: DeflatedTable, Blob: 2}},
			}
			var buf bytes.Buffer
			if err := rb.Encode(&buf); err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(ctx, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "h")
			if err != nil {
				t.Fatal(err)
			}
			if err := r.ZipTableError(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "zips deflated/1") {
				t.Fatalf("table error %v", err)
			}
			if ps := r.Verify(ctx, nil); !slices.ContainsFunc(ps, func(p Problem) bool {
				return p.Entry == "zips deflated/1" && errors.Is(p.Err, ErrCorrupt)
			}) {
				t.Fatalf("verify does not name the table: %v", ps)
			}
			m, _ := r.Module("example.com/h", "v1.0.0")
			var out bytes.Buffer
			fi, err := r.WriteZip(ctx, m.Path, m.Version, &out)
			if err != nil || m.ZipStored != nil || m.ZipMirrorSize != 0 || fi.SHA256 != Sum(sha256.Sum256(out.Bytes())) || fi != *m.Zip {
				t.Fatalf("zip from a bundle with a bad table: %+v %v (module %+v)", fi, err, m)
			}
		})
	}
}
