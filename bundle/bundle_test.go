package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// testFile is a file of a module zip.
type testFile struct {
	name string
	data []byte
}

func (f testFile) Path() string                { return f.name }
func (f testFile) Lstat() (os.FileInfo, error) { return fileInfo{f}, nil }
func (f testFile) Open() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

type fileInfo struct{ f testFile }

func (i fileInfo) Name() string       { return filepath.Base(i.f.name) }
func (i fileInfo) Size() int64        { return int64(len(i.f.data)) }
func (i fileInfo) Mode() os.FileMode  { return 0o644 }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }

// testModule is a module version to put in a GOPROXY tree.
type testModule struct {
	path, version string
	mod           string
	files         []testFile // zip content; nil means no zip
	noInfo        bool
}

// writeTree writes mods as a GOPROXY file tree (the module cache layout).
func writeTree(t testing.TB, dir string, mods []testModule) {
	t.Helper()
	for _, m := range mods {
		ep, err := module.EscapePath(m.path)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := module.EscapeVersion(m.version)
		if err != nil {
			t.Fatal(err)
		}
		vdir := filepath.Join(dir, filepath.FromSlash(ep), "@v")
		if err := os.MkdirAll(vdir, 0o777); err != nil {
			t.Fatal(err)
		}
		if !m.noInfo {
			info := fmt.Sprintf(`{"Version":%q,"Time":"2024-01-02T03:04:05Z"}`, m.version)
			os.WriteFile(filepath.Join(vdir, ev+".info"), []byte(info), 0o666)
		}
		mod := m.mod
		if mod == "" {
			mod = "module " + m.path + "\n\ngo 1.21\n"
		}
		os.WriteFile(filepath.Join(vdir, ev+".mod"), []byte(mod), 0o666)
		if m.files != nil {
			var zf bytes.Buffer
			var files []modzip.File
			for _, f := range m.files {
				files = append(files, f)
			}
			if err := modzip.Create(&zf, module.Version{Path: m.path, Version: m.version}, files); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(vdir, ev+".zip"), zf.Bytes(), 0o666)
			// litter the go command leaves behind
			os.WriteFile(filepath.Join(vdir, ev+".ziphash"), []byte("h1:xyz\n"), 0o666)
			os.WriteFile(filepath.Join(vdir, ev+".lock"), nil, 0o666)
		}
		os.WriteFile(filepath.Join(vdir, "list"), []byte(m.version+"\n"), 0o666)
		os.WriteFile(filepath.Join(vdir, "list.lock"), nil, 0o666)
	}
}

// sampleModules covers shared files across versions, case escaping, major
// versions, +incompatible, pseudo-versions, nested prefix paths and a
// module with no .info.
func sampleModules() []testModule {
	lib := func(v, extra string) []testFile {
		return []testFile{
			{"go.mod", []byte("module example.com/lib\n\ngo 1.21\n")},
			{"LICENSE", []byte("Copyright: nobody.\n")},
			{"lib.go", []byte("package lib\n\n// Version is " + v + ".\nconst Version = \"" + v + "\"\n" + extra)},
			{"util/util.go", []byte("package util\n\nfunc Add(a, b int) int { return a + b }\n")},
		}
	}
	big := make([]byte, 300<<10)
	rand.New(rand.NewSource(1)).Read(big)
	return []testModule{
		{path: "example.com/lib", version: "v1.0.0", files: lib("v1.0.0", "")},
		{path: "example.com/lib", version: "v1.1.0", files: lib("v1.1.0", "func New() {}\n")},
		{path: "example.com/lib", version: "v1.2.0-pre", files: lib("v1.2.0-pre", "func New() {}\n")},
		{path: "example.com/lib/v2", version: "v2.0.0", mod: "module example.com/lib/v2\n", files: []testFile{
			{"go.mod", []byte("module example.com/lib/v2\n")}, {"lib.go", []byte("package lib\n")}}},
		{path: "example.com/a", version: "v0.0.0-20240102030405-abcdefabcdef", files: []testFile{
			{"go.mod", []byte("module example.com/a\n\ngo 1.21\n")}, {"a.go", []byte("package a\n")}, {"data.bin", big}}},
		{path: "example.com/a/b", version: "v0.1.0", files: []testFile{
			{"go.mod", []byte("module example.com/a/b\n\ngo 1.21\n")}, {"b.go", []byte("package b\n")}}},
		{path: "github.com/BurntSushi/Toml", version: "v3.0.0+incompatible", mod: "module github.com/BurntSushi/Toml\n", files: []testFile{
			{"toml.go", []byte("package toml\n")}, {"Doc/README", []byte("Capital letters.\n")}}},
		{path: "example.com/graphonly", version: "v1.0.0"},            // .info and .mod only
		{path: "example.com/noinfo", version: "v1.0.0", noInfo: true}, // .mod only
	}
}

func packTree(t testing.TB, dir, out string, opts WriterOptions) Stats {
	t.Helper()
	ctx := context.Background()
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	w, err := NewWriter(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Pack(ctx, w, dir, nil); err != nil {
		t.Fatal(err)
	}
	st, err := w.WriteFile(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	mods := sampleModules()
	writeTree(t, src, mods)
	out := filepath.Join(t.TempDir(), "b.gobundle")
	st := packTree(t, src, out, WriterOptions{Tool: "test", Inputs: []string{"x"}, FrameSize: 64 << 10})
	if st.Modules != len(mods) || st.Zips != 7 {
		t.Fatalf("stats: %+v", st)
	}
	if st.BlobBytes >= st.LogicalBytes {
		t.Errorf("no dedup: unique %d of %d", st.BlobBytes, st.LogicalBytes)
	}
	r, err := Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if p := r.Verify(ctx, nil); len(p) != 0 {
		t.Fatalf("verify: %v", p)
	}
	for _, m := range mods {
		ep, _ := module.EscapePath(m.path)
		ev, _ := module.EscapeVersion(m.version)
		base := filepath.Join(src, filepath.FromSlash(ep), "@v", ev)
		entry, ok := r.Module(m.path, m.version)
		if !ok {
			t.Fatalf("%s@%s missing", m.path, m.version)
		}
		for _, kind := range []FileKind{KindInfo, KindMod} {
			want, err := os.ReadFile(base + "." + kind.String())
			got, gerr := r.ReadFile(ctx, m.path, m.version, kind)
			if err != nil {
				if !errors.Is(gerr, fs.ErrNotExist) {
					t.Errorf("%s@%s %s: want not-exist, got %v", m.path, m.version, kind, gerr)
				}
				continue
			}
			if gerr != nil || !bytes.Equal(got, want) {
				t.Errorf("%s@%s %s: differs (%v)", m.path, m.version, kind, gerr)
			}
		}
		wantMod, _ := os.ReadFile(base + ".mod")
		if h, _ := goModHash(wantMod); h != entry.ModHash {
			t.Errorf("%s@%s: ModHash %s, want %s", m.path, m.version, entry.ModHash, h)
		}
		if m.files == nil {
			if entry.Zip != nil {
				t.Errorf("%s@%s: unexpected zip", m.path, m.version)
			}
			continue
		}
		wantH1, err := dirhash.HashZip(base+".zip", dirhash.Hash1)
		if err != nil {
			t.Fatal(err)
		}
		if entry.ZipHash != wantH1 {
			t.Errorf("%s@%s: ZipHash %s, want %s", m.path, m.version, entry.ZipHash, wantH1)
		}
		zipData, err := r.ReadFile(ctx, m.path, m.version, KindZip)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(zipData) != entry.Zip.SHA256 || int64(len(zipData)) != entry.Zip.Size {
			t.Errorf("%s@%s: served zip does not match its index entry", m.path, m.version)
		}
		rebuilt := filepath.Join(t.TempDir(), "z.zip")
		os.WriteFile(rebuilt, zipData, 0o666)
		if h, err := dirhash.HashZip(rebuilt, dirhash.Hash1); err != nil || h != wantH1 {
			t.Errorf("%s@%s: rebuilt zip h1 %s (%v), want %s", m.path, m.version, h, err, wantH1)
		}
		if _, err := modzip.CheckZip(module.Version{Path: m.path, Version: m.version}, rebuilt); err != nil {
			t.Errorf("%s@%s: rebuilt zip fails x/mod/zip checks: %v", m.path, m.version, err)
		}
		// The go command extracts with x/mod/zip.Unzip.
		if err := modzip.Unzip(filepath.Join(t.TempDir(), "x"), module.Version{Path: m.path, Version: m.version}, rebuilt); err != nil {
			t.Errorf("%s@%s: unzip: %v", m.path, m.version, err)
		}
	}
	if got := r.Versions("example.com/lib"); strings.Join(got, ",") != "v1.0.0,v1.1.0,v1.2.0-pre" {
		t.Errorf("Versions = %v", got)
	}
	if _, err := r.OpenFile(ctx, "example.com/none", "v1.0.0", KindMod); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing module: %v", err)
	}
}

// TestZipRandomAccess reads rebuilt zips at every kind of offset.
func TestZipRandomAccess(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, sampleModules())
	out := filepath.Join(t.TempDir(), "b.gobundle")
	packTree(t, src, out, WriterOptions{FrameSize: 32 << 10})
	r, err := Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	whole, err := r.ReadFile(ctx, "example.com/a", "v0.0.0-20240102030405-abcdefabcdef", KindZip)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(whole), int64(len(whole)))
	if err != nil || len(zr.File) != 3 {
		t.Fatalf("rebuilt zip does not open: %v", err)
	}
	f, _ := r.OpenFile(ctx, "example.com/a", "v0.0.0-20240102030405-abcdefabcdef", KindZip)
	rng := rand.New(rand.NewSource(2))
	for range 300 {
		off := rng.Int63n(int64(len(whole)))
		n := rng.Intn(70000) + 1
		buf := make([]byte, n)
		got, err := f.ReadAt(buf, off)
		want := whole[off:min(int64(len(whole)), off+int64(n))]
		if got != len(want) || !bytes.Equal(buf[:got], want) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
		}
		if got < n && err != io.EOF {
			t.Fatalf("short ReadAt without EOF: %v", err)
		}
	}
	if _, err := f.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(rest, whole[100:]) {
		t.Fatalf("Seek+ReadAll: %v", err)
	}
}

func TestDeterministic(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleModules())
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	packTree(t, src, a, WriterOptions{Tool: "t", Inputs: []string{"in"}, FrameSize: 64 << 10})
	// The second writer gets the modules in reverse order, with two workers.
	ctx := context.Background()
	w, err := NewWriter(WriterOptions{Tool: "t", Inputs: []string{"in"}, FrameSize: 64 << 10, Concurrency: 2, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mods, err := scanTree(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(mods) - 1; i >= 0; i-- {
		if err := packOne(ctx, w, mods[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.WriteFile(ctx, b); err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Fatalf("same input gave different bundles (%d and %d bytes)", len(da), len(db))
	}
}

// TestEveryByteFlipDetected flips each byte of a small bundle in turn: the
// bundle must fail to open or fail Verify, never pass.
func TestEveryByteFlipDetected(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	mods := sampleModules()[:4]
	mods = append(mods, testModule{path: "example.com/graphonly", version: "v1.0.0"})
	writeTree(t, src, mods)
	out := filepath.Join(t.TempDir(), "b.gobundle")
	packTree(t, src, out, WriterOptions{FrameSize: 1 << 10})
	good, _ := os.ReadFile(out)
	buf := make([]byte, len(good))
	for i := range good {
		copy(buf, good)
		buf[i] ^= 0x20
		r, err := NewReader(ctx, bytes.NewReader(buf), int64(len(buf)), "b")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("byte %d: open error does not wrap ErrCorrupt: %v", i, err)
			}
			continue
		}
		problems := r.Verify(ctx, nil)
		r.Close()
		if len(problems) == 0 {
			t.Fatalf("byte %d of %d flipped: bundle verifies", i, len(good))
		}
		for _, p := range problems {
			if p.Entry == "" || !errors.Is(p.Err, ErrCorrupt) {
				t.Fatalf("byte %d: problem %v does not name an entry or wrap ErrCorrupt", i, p)
			}
		}
	}
	// Every truncation is refused at open.
	for n := 0; n < len(good); n++ {
		if _, err := NewReader(ctx, bytes.NewReader(good[:n]), int64(n), "b"); err == nil || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
}

// TestCorruptReadNamesEntry checks that a read (not only Verify) of a
// damaged frame fails with ErrCorrupt naming the entry, and returns no bytes.
func TestCorruptReadNamesEntry(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, sampleModules()[:1])
	out := filepath.Join(t.TempDir(), "b.gobundle")
	packTree(t, src, out, WriterOptions{})
	data, _ := os.ReadFile(out)
	r0, _ := Open(ctx, out)
	f0 := r0.ix.frames[r0.ix.blobs[r0.ix.mods[0].files[0].blob].frame] // the content frame
	r0.Close()
	data[f0.off+f0.clen/2] ^= 0xff
	r, err := NewReader(ctx, bytes.NewReader(data), int64(len(data)), "b")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadFile(ctx, "example.com/lib", "v1.0.0", KindZip)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "example.com/lib@v1.0.0 zip") || got != nil {
		t.Fatalf("read of corrupt zip: %d bytes, %v", len(got), err)
	}
}

func TestPackRefusesInconsistentInput(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		mutate  func(dir string)
		culprit string
	}{
		{"zip without mod", func(dir string) { os.Remove(filepath.Join(dir, "example.com/lib/@v/v1.0.0.mod")) }, "v1.0.0.zip"},
		{"bad info", func(dir string) {
			os.WriteFile(filepath.Join(dir, "example.com/lib/@v/v1.0.0.info"), []byte("{not json"), 0o666)
		}, "v1.0.0.info"},
		{"info names other version", func(dir string) {
			os.WriteFile(filepath.Join(dir, "example.com/lib/@v/v1.0.0.info"), []byte(`{"Version":"v1.0.1"}`), 0o666)
		}, "v1.0.0.info"},
		{"zip of another version", func(dir string) {
			z, _ := os.ReadFile(filepath.Join(dir, "example.com/lib/@v/v1.0.0.zip"))
			os.WriteFile(filepath.Join(dir, "example.com/lib/@v/v1.9.0.zip"), z, 0o666)
			os.WriteFile(filepath.Join(dir, "example.com/lib/@v/v1.9.0.mod"), []byte("module example.com/lib\n"), 0o666)
		}, "v1.9.0.zip"},
		{"not a zip", func(dir string) {
			os.WriteFile(filepath.Join(dir, "example.com/lib/@v/v1.0.0.zip"), []byte("PK garbage"), 0o666)
		}, "v1.0.0.zip"},
		{"stray file", func(dir string) {
			os.WriteFile(filepath.Join(dir, "example.com/lib/@v/README"), nil, 0o666)
		}, "README"},
		{"bad escaped path", func(dir string) {
			os.MkdirAll(filepath.Join(dir, "example.com/Upper/@v"), 0o777)
			os.WriteFile(filepath.Join(dir, "example.com/Upper/@v/v1.0.0.mod"), nil, 0o666)
		}, "Upper"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, sampleModules()[:2])
			tc.mutate(dir)
			w, err := NewWriter(WriterOptions{TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			err = Pack(ctx, w, dir, nil)
			if err == nil {
				t.Fatal("Pack accepted inconsistent input")
			}
			if !strings.Contains(err.Error(), tc.culprit) || strings.Count(err.Error(), "\n") > 0 {
				t.Fatalf("error %q does not name %s on one line", err, tc.culprit)
			}
		})
	}
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := t.TempDir()
	writeTree(t, src, sampleModules())
	dir := t.TempDir()
	out := filepath.Join(dir, "b.gobundle")
	os.WriteFile(out, []byte("previous bundle"), 0o666)
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Pack(ctx, w, src, nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.WriteFile(ctx, out); err == nil {
		t.Fatal("WriteFile succeeded with a cancelled context")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("leftover files: %v", entries)
	}
	if data, _ := os.ReadFile(out); string(data) != "previous bundle" {
		t.Fatal("existing output was overwritten by a failed write")
	}
}

func TestUnpackTree(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	mods := sampleModules()
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
	// Repacking the unpacked tree gives the same module set and hashes.
	out2 := filepath.Join(t.TempDir(), "c.gobundle")
	packTree(t, dst, out2, WriterOptions{})
	r2, err := Open(ctx, out2)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	a, b := r.Modules(), r2.Modules()
	if len(a) != len(b) {
		t.Fatalf("%d modules after repack, want %d", len(b), len(a))
	}
	for i := range a {
		if a[i].ModHash != b[i].ModHash || a[i].ZipHash != b[i].ZipHash || a[i].Zip != nil && *a[i].Zip != *b[i].Zip {
			t.Errorf("%s@%s differs after unpack+pack", a[i].Path, a[i].Version)
		}
	}
	list, _ := os.ReadFile(filepath.Join(dst, "example.com/lib/@v/list"))
	if string(list) != "v1.0.0\nv1.1.0\nv1.2.0-pre\n" {
		t.Errorf("list = %q", list)
	}
	if list, _ := os.ReadFile(filepath.Join(dst, "example.com/a/@v/list")); len(list) != 0 {
		t.Errorf("pseudo-versions listed: %q", list)
	}
	if _, err := os.Stat(filepath.Join(dst, "github.com/!burnt!sushi/!toml/@v/v3.0.0+incompatible.zip")); err != nil {
		t.Errorf("case-escaped path: %v", err)
	}
}

func TestExtras(t *testing.T) {
	ctx := context.Background()
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, x := range []ExtraSource{
		{Kind: "sumdb", Name: "db.test/tile/8/0/000", Data: []byte("tile"), Origin: "https://mirror.test"},
		{Kind: "future-kind", Name: "x", Data: []byte("unknown kinds are kept")},
		{Kind: "sumdb", Name: "db.test/lookup/a@v1.0.0", Data: []byte("tile")}, // same content, stored once
	} {
		if err := w.AddExtra(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddExtra(ctx, ExtraSource{Kind: "sumdb", Name: "db.test/tile/8/0/000", Data: []byte("other")}); err == nil {
		t.Fatal("conflicting extra accepted")
	}
	out := filepath.Join(t.TempDir(), "x.gobundle")
	st, err := w.WriteFile(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Extras != 3 || st.Blobs != 2 {
		t.Fatalf("stats %+v", st)
	}
	r, err := Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	xs := r.Extras()
	if xs[0].Kind != "future-kind" || xs[2].Name != "db.test/tile/8/0/000" || xs[2].Origin != "https://mirror.test" {
		t.Fatalf("extras %+v", xs)
	}
	if got, err := r.ReadExtra(ctx, "sumdb", "db.test/lookup/a@v1.0.0"); err != nil || string(got) != "tile" {
		t.Fatalf("ReadExtra: %q %v", got, err)
	}
	if _, err := r.ReadExtra(ctx, "sumdb", "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing extra: %v", err)
	}
	if p := r.Verify(ctx, nil); len(p) != 0 {
		t.Fatal(p)
	}
}

func TestRefusesNewerFormat(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleModules()[:1])
	out := filepath.Join(t.TempDir(), "b.gobundle")
	packTree(t, src, out, WriterOptions{})
	data, _ := os.ReadFile(out)
	data[8] = 2
	_, err := NewReader(context.Background(), bytes.NewReader(data), int64(len(data)), "b")
	if err == nil || !strings.Contains(err.Error(), "version 2 is not supported") {
		t.Fatalf("newer format: %v", err)
	}
}

// A frame of exactly 1024 bytes, which the encoder gives a 2048-byte
// window, reads and verifies.
func TestFrameOf1024Bytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := NewWriter(WriterOptions{Tool: "test", TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 64)
	if err := w.AddExtra(ctx, ExtraSource{Kind: "test", Name: "k", Data: data}); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "b.gobundle")
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if p := r.Verify(ctx, nil); len(p) != 0 {
		t.Fatalf("verify: %v", p)
	}
	got, err := r.ReadExtra(ctx, "test", "k")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadExtra = %d bytes, %v", len(got), err)
	}
}
