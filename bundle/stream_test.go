package bundle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/module"
)

// streamOrder says how a test feeds a streaming writer.
type streamOrder struct {
	// lateMeta adds the .info and .mod files after Expect, with the zips.
	lateMeta bool
	// unannounced leaves this module's zip out of Expect.
	unannounced string
	// prepareOnly prepares the zip of a module version that is never added.
	prepareOnly bool
}

// writeStreamed writes the modules of the tree src through Expect, zips
// last and in reverse order, and returns the bundle, the frames compressed
// before WriteFile and the frames compressed in all.
func writeStreamed(t *testing.T, src string, o streamOrder) (data []byte, early, total int64) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w, err := NewWriter(WriterOptions{Tool: "t", Inputs: []string{"in"}, FrameSize: 64 << 10, Concurrency: 2, TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mods, err := scanTree(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	meta := func(tm treeModule) {
		s := ModuleSource{Path: tm.mv.Path, Version: tm.mv.Version}
		if tm.info != "" {
			s.Info, _ = os.ReadFile(tm.info)
		}
		s.Mod, _ = os.ReadFile(tm.mod)
		if err := w.AddModule(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var zips []module.Version
	for _, tm := range mods {
		if !o.lateMeta {
			meta(tm)
		}
		if tm.zip != "" && tm.mv.Path != o.unannounced {
			zips = append(zips, tm.mv)
		}
	}
	if o.prepareOnly {
		// A zip of the same content under another version: prepared,
		// hashed, never added.
		for _, tm := range mods {
			if tm.zip != "" {
				data, _ := os.ReadFile(tm.zip)
				other := filepath.Join(dir, "other.zip")
				os.WriteFile(other, data, 0o666)
				if _, err := w.PrepareZip(ctx, tm.mv.Path, tm.mv.Version, other, ""); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	}
	if err := w.Expect(zips); err != nil {
		t.Fatal(err)
	}
	for i := len(mods) - 1; i >= 0; i-- {
		tm := mods[i]
		if o.lateMeta {
			meta(tm)
		}
		if tm.zip == "" {
			continue
		}
		h, err := w.PrepareZip(ctx, tm.mv.Path, tm.mv.Version, tm.zip, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := packOne(ctx, w, tm); err != nil {
			t.Fatal(err)
		}
		if got := w.mods[tm.mv].zipHash; got != h {
			t.Fatalf("%v: PrepareZip said %s, the bundle has %s", tm.mv, h, got)
		}
	}
	if err := w.waitStream(context.Background()); err != nil {
		t.Fatal(err)
	}
	early = w.framesCompressed.Load()
	out := filepath.Join(dir, "b.gobundle")
	if _, err := w.WriteFile(ctx, out); err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data, early, w.framesCompressed.Load()
}

// TestStreamSameBytes: frames compressed while zips are still being added
// make the very bundle a writer makes at the end, whatever the callers
// get wrong.
func TestStreamSameBytes(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleModules())
	dir := t.TempDir()
	plainFile := filepath.Join(dir, "plain")
	packTree(t, src, plainFile, WriterOptions{Tool: "t", Inputs: []string{"in"}, FrameSize: 64 << 10})
	plain, _ := os.ReadFile(plainFile)
	r, err := NewReader(context.Background(), bytes.NewReader(plain), int64(len(plain)), "plain")
	if err != nil {
		t.Fatal(err)
	}
	frames := int64(len(r.ix.frames))

	data, early, total := writeStreamed(t, src, streamOrder{})
	if !bytes.Equal(data, plain) {
		t.Fatal("streamed bundle differs from the plain one")
	}
	if early < 3 {
		t.Errorf("%d frames compressed before WriteFile, want the content frames (3 or more)", early)
	}
	if total != frames {
		t.Errorf("%d frames compressed for a bundle of %d: some twice", total, frames)
	}

	for name, o := range map[string]streamOrder{
		"metadata after Expect": {lateMeta: true},
		"unannounced zip":       {unannounced: "example.com/lib"},
		"prepared, never added": {prepareOnly: true},
	} {
		t.Run(name, func(t *testing.T) {
			data, _, _ := writeStreamed(t, src, o)
			if !bytes.Equal(data, plain) {
				t.Fatal("streamed bundle differs from the plain one")
			}
		})
	}
}

// TestRawZips: with RawZips every zip is served byte for byte as the
// mirror had it, with the same h1:, and the bundle verifies; a cached
// analysis of the other layout is not taken.
func TestRawZips(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, sampleModules())
	mods, err := scanTree(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	files := filepath.Join(t.TempDir(), "files.gobundle")
	packTree(t, src, files, WriterOptions{FrameSize: 64 << 10, CacheDir: cache})
	out := filepath.Join(t.TempDir(), "raw.gobundle")
	packTree(t, src, out, WriterOptions{FrameSize: 64 << 10, CacheDir: cache, RawZips: true})
	r, err := Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rf, err := Open(ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	if p := r.Verify(ctx, nil); len(p) != 0 {
		t.Fatalf("raw bundle does not verify: %v", p)
	}
	n := 0
	for _, tm := range mods {
		if tm.zip == "" {
			continue
		}
		n++
		want, _ := os.ReadFile(tm.zip)
		got, err := r.ReadFile(ctx, tm.mv.Path, tm.mv.Version, KindZip)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%v: zip served differs from the mirror's (%v)", tm.mv, err)
		}
		m, _ := r.Module(tm.mv.Path, tm.mv.Version)
		mf, _ := rf.Module(tm.mv.Path, tm.mv.Version)
		if !m.ZipRaw || mf.ZipRaw || m.ZipHash != mf.ZipHash || m.ZipHash == "" {
			t.Fatalf("%v: raw %v (files bundle: %v), h1 %s vs %s", tm.mv, m.ZipRaw, mf.ZipRaw, m.ZipHash, mf.ZipHash)
		}
	}
	if n == 0 {
		t.Fatal("no zips in the sample")
	}
}
