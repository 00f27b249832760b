package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// chainTrees returns the module versions of three weeks of a project: week
// 2 bumps example.com/lib (one file of four changes) and adds a module,
// week 3 bumps lib again.
func chainTrees() [3][]testModule {
	all := sampleModules()
	week1 := []testModule{all[0], all[3], all[4], all[7]}
	week2 := append(slices.Clone(week1), all[1], all[5])
	week3 := append(slices.Clone(week2), all[2])
	return [3][]testModule{week1, week2, week3}
}

// packWeek packs mods into dir/name with the given bases and opens it.
func packWeek(t *testing.T, dir, name string, mods []testModule, bases ...*Reader) *Reader {
	t.Helper()
	src := filepath.Join(dir, name+".tree")
	writeTree(t, src, mods)
	out := filepath.Join(dir, name+".gobundle")
	packTree(t, src, out, WriterOptions{FrameSize: 1 << 12, Bases: bases})
	r, err := Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func modNames(r *Reader) []string {
	var out []string
	for _, m := range r.Modules() {
		out = append(out, m.Path+"@"+m.Version)
	}
	return out
}

func TestIncrementalChain(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	weeks := chainTrees()
	w1 := packWeek(t, dir, "w1", weeks[0])
	d2 := packWeek(t, dir, "d2", weeks[1], w1)
	// A delta on a delta needs its base's bases too.
	if _, err := NewWriter(WriterOptions{TempDir: dir, Bases: []*Reader{d2}}); !errors.Is(err, ErrMissingBase) {
		t.Fatalf("writer on an unlinked delta: %v", err)
	}
	if err := d2.Link([]*Reader{w1}); err != nil {
		t.Fatal(err)
	}
	d3 := packWeek(t, dir, "d3", weeks[2], d2)
	full3 := packWeek(t, dir, "full3", weeks[2])

	// Each delta holds only what its base lacks, and says it needs it.
	if got, want := modNames(d2), []string{"example.com/a/b@v0.1.0", "example.com/lib@v1.1.0"}; !slices.Equal(got, want) {
		t.Fatalf("delta 2 holds %v, want %v", got, want)
	}
	if got, want := modNames(d3), []string{"example.com/lib@v1.2.0-pre"}; !slices.Equal(got, want) {
		t.Fatalf("delta 3 holds %v, want %v", got, want)
	}
	if !d2.Incremental() || !slices.Equal(d2.Bases(), []Sum{w1.Digest()}) || w1.Incremental() {
		t.Fatalf("delta 2 bases %v, want [%v]", d2.Bases(), w1.Digest())
	}
	st := d2.Stats()
	// lib v1.1.0 shares go.mod (the same bytes as its .mod), LICENSE and
	// util.go with v1.0.0: only lib.go and the .info are new, plus a/b's
	// .info, .mod (= its go.mod) and b.go; and the delta's own table of
	// deflated zips.
	if st.BaseBlobs != 3 || st.Blobs != 6 {
		t.Fatalf("delta 2: %d blobs stored, %d of the base's referred to; want 6 and 3", st.Blobs, st.BaseBlobs)
	}
	if hdr := readHeader(t, filepath.Join(dir, "d2.gobundle")); binary.LittleEndian.Uint32(hdr[12:]) != FlagIncremental {
		t.Fatalf("delta header flags %x", hdr[12:16])
	}

	// Unlinked: its own content verifies, what reads the base waits.
	if p := d3.Verify(ctx, nil); len(p) != 0 {
		t.Fatalf("unlinked delta: %v", p)
	}
	if got := d3.NeedBases(); !slices.Equal(got, []string{"example.com/lib@v1.2.0-pre"}) {
		t.Fatalf("NeedBases = %v", got)
	}
	_, err := d3.ReadFile(ctx, "example.com/lib", "v1.2.0-pre", KindZip)
	var mb *MissingBaseError
	if !errors.As(err, &mb) || !slices.Contains(d3.Bases(), mb.Digest) || !errors.Is(err, ErrMissingBase) {
		t.Fatalf("read without base: %v", err)
	}
	if got, want := d3.Bases(), sortByDigest([]*Reader{w1, d2}); len(got) != 2 || got[0] != want[0].Digest() || got[1] != want[1].Digest() {
		t.Fatalf("delta 3 names bases %v, want w1 and d2", got)
	}
	if err := d3.Link([]*Reader{w1, full3}); err == nil {
		t.Fatal("linked without its base")
	}

	// Linked, the chain serves exactly what a full bundle serves.
	if err := d3.Link([]*Reader{w1, d2}); err != nil {
		t.Fatal(err)
	}
	if p := d3.Verify(ctx, nil); len(p) != 0 || len(d3.NeedBases()) != 0 {
		t.Fatalf("linked delta: %v, needs %v", p, d3.NeedBases())
	}
	checkChainServes(t, full3, d3, d2, w1)
	checkChainUnpacks(t, dir, full3, d3, d2, w1)

	// Merged, in any order, it is one self-contained bundle serving the
	// same files, with one digest.
	m1 := mergeTo(t, filepath.Join(dir, "m1.gobundle"), w1, d2, d3)
	m2 := mergeTo(t, filepath.Join(dir, "m2.gobundle"), d3, w1, d2)
	if m1.Digest() != m2.Digest() || m1.Incremental() {
		t.Fatalf("merges differ: %v and %v", m1.Digest(), m2.Digest())
	}
	fa, _ := m1.ServedFiles()
	fb, _ := full3.ServedFiles()
	if !slices.Equal(fa, fb) {
		t.Fatalf("merge serves %d files, full bundle %d, or they differ", len(fa), len(fb))
	}
	if p := m1.Verify(ctx, nil); len(p) != 0 {
		t.Fatal(p)
	}
}

// checkChainServes checks that every file of full reads the same from the
// first of chain that holds it.
func checkChainServes(t *testing.T, full *Reader, chain ...*Reader) {
	ctx := context.Background()
	for _, m := range full.Modules() {
		for _, k := range []FileKind{KindInfo, KindMod, KindZip} {
			want, werr := full.ReadFile(ctx, m.Path, m.Version, k)
			var got []byte
			var gerr error = os.ErrNotExist
			for _, r := range chain {
				if got, gerr = r.ReadFile(ctx, m.Path, m.Version, k); gerr == nil {
					break
				}
			}
			if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("%s@%s %s: chain gives %d bytes (%v), full bundle %d (%v)", m.Path, m.Version, k, len(got), gerr, len(want), werr)
			}
		}
	}
}

// checkChainUnpacks checks that the chain unpacks to full's tree.
func checkChainUnpacks(t *testing.T, dir string, full *Reader, chain ...*Reader) {
	ctx := context.Background()
	chainDir, fullDir := filepath.Join(dir, "chain"), filepath.Join(dir, "full")
	if err := UnpackAll(ctx, chain, chainDir, nil); err != nil {
		t.Fatal(err)
	}
	if err := full.Unpack(ctx, fullDir, nil); err != nil {
		t.Fatal(err)
	}
	if a, b := treeFiles(t, chainDir), treeFiles(t, fullDir); !maps2Equal(a, b) {
		t.Fatalf("chain unpacks to %d files, full bundle to %d, or contents differ", len(a), len(b))
	}
}

func readHeader(t *testing.T, name string) []byte {
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data[:headerSize]
}

func treeFiles(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func mergeTo(t *testing.T, out string, rs ...*Reader) *Reader {
	t.Helper()
	ctx := context.Background()
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir(), FrameSize: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Merge(ctx, w, rs, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteFile(ctx, out); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestMergeConflictNamesBoth(t *testing.T) {
	dir := t.TempDir()
	all := sampleModules()
	a := packWeek(t, dir, "a", all[:1])
	other := all[0]
	other.files = slices.Clone(other.files)
	other.files[2] = testFile{"lib.go", []byte("package lib // another\n")}
	b := packWeek(t, dir, "b", []testModule{other})
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = Merge(context.Background(), w, []*Reader{a, b}, nil, nil)
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Entry != "example.com/lib@v1.0.0" || ce.What != ".zip" ||
		!slices.Contains([]string{ce.Bundle1, ce.Bundle2}, a.Name()) || !slices.Contains([]string{ce.Bundle1, ce.Bundle2}, b.Name()) {
		t.Fatalf("merge of a conflict: %v", err)
	}
}

// TestIncrementalEveryByteFlipDetected flips each byte of a delta: it is
// refused at open, or verify finds it (without its base and with it), and
// no read returns wrong bytes.
func TestIncrementalEveryByteFlipDetected(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	weeks := chainTrees()
	w1 := packWeek(t, dir, "w1", weeks[0])
	packWeek(t, dir, "d2", weeks[1], w1)
	good, err := os.ReadFile(filepath.Join(dir, "d2.gobundle"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(good))
	for i := range good {
		copy(buf, good)
		buf[i] ^= 0x20
		r, err := NewReader(ctx, bytes.NewReader(buf), int64(len(buf)), "d2")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("byte %d: open error %v", i, err)
			}
			continue
		}
		if p := r.Verify(ctx, nil); len(p) == 0 {
			t.Fatalf("byte %d of %d flipped: delta verifies without its base", i, len(good))
		}
		if err := r.Link([]*Reader{w1}); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
		if p := r.Verify(ctx, nil); len(p) == 0 {
			t.Fatalf("byte %d of %d flipped: delta verifies with its base", i, len(good))
		}
		for _, m := range r.Modules() {
			for _, k := range []FileKind{KindInfo, KindMod, KindZip} {
				data, err := r.ReadFile(ctx, m.Path, m.Version, k)
				if err == nil && sha256Of(data) != fileSum(m, k) {
					t.Fatalf("byte %d: %s@%s %s read returns wrong bytes", i, m.Path, m.Version, k)
				}
			}
		}
		r.Close()
	}
}

func fileSum(m Module, k FileKind) Sum {
	f := map[FileKind]*FileInfo{KindInfo: m.Info, KindMod: m.Mod, KindZip: m.Zip}[k]
	if f == nil {
		return Sum{}
	}
	return f.SHA256
}

func sha256Of(data []byte) Sum { return sha256.Sum256(data) }

// TestUnknownFlagRefused: a header flag this reader does not know (a later
// format feature, as the incremental flag is to earlier readers) is
// refused at open, as unsupported, even with a valid trailer checksum.
func TestUnknownFlagRefused(t *testing.T) {
	dir := t.TempDir()
	r := packWeek(t, dir, "w1", chainTrees()[0])
	data, err := os.ReadFile(r.Name())
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(data[12:], 1<<1)
	tr, err := decodeTrailer(data[len(data)-trailerSize:], data[:headerSize], int64(len(data)))
	if err == nil {
		t.Fatal("trailer CRC did not cover the flag")
	}
	tr = r.tr
	copy(data[len(data)-trailerSize:], encodeTrailer(tr, data[:headerSize]))
	_, err = NewReader(context.Background(), bytes.NewReader(data), int64(len(data)), "w1")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "header flags 0x2") {
		t.Fatalf("unknown flag: %v", err)
	}
}
