package bundle

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to the reader: opening, verifying and
// reading every file must fail cleanly or succeed, never panic or allocate
// without bound.
func FuzzOpen(f *testing.F) {
	src := f.TempDir()
	writeTree(f, src, sampleModules()[:4])
	out := filepath.Join(f.TempDir(), "b.gobundle")
	packTree(f, src, out, WriterOptions{FrameSize: 4 << 10})
	good, err := os.ReadFile(out)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		r, err := NewReader(ctx, bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		defer r.Close()
		r.Verify(ctx, nil)
		for _, m := range r.Modules() {
			for _, k := range []FileKind{KindInfo, KindMod, KindZip} {
				file, err := r.OpenFile(ctx, m.Path, m.Version, k)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, file)
			}
		}
		for _, x := range r.Extras() {
			r.ReadExtra(ctx, x.Kind, x.Name)
		}
	})
}

// FuzzIndex feeds arbitrary index encodings to the index decoder, which the
// checksums in the trailer keep FuzzOpen from reaching.
func FuzzIndex(f *testing.F) {
	src := f.TempDir()
	writeTree(f, src, sampleModules())
	out := filepath.Join(f.TempDir(), "b.gobundle")
	packTree(f, src, out, WriterOptions{FrameSize: 4 << 10})
	r, err := Open(context.Background(), out)
	if err != nil {
		f.Fatal(err)
	}
	raw := r.ix.encode()
	dataEnd, fileSize := r.tr.indexOff, r.size
	r.Close()
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzIndex(t, data, 0, dataEnd, fileSize) })
}

// fuzzIndex decodes data as an index of a bundle with the header flags
// given; one that decodes must re-encode to the same bytes (the encoding
// has one form per index) and lay out its zips without a panic.
func fuzzIndex(t *testing.T, data []byte, flags uint32, dataEnd, fileSize int64) {
	ix, err := decodeIndex(data, flags, dataEnd, fileSize)
	if err != nil {
		return
	}
	if again := ix.encode(); !bytes.Equal(again, data) {
		t.Fatalf("index re-encodes differently")
	}
	for i := range ix.mods {
		if ix.mods[i].zipKind == zipRebuilt {
			l := newZipLayout(&ix.mods[i], ix.blobs)
			l.centralDirectory()
			for j := range ix.mods[i].files {
				l.localHeader(j)
			}
		}
		ix.usesBase(&ix.mods[i])
	}
}

// FuzzIndexIncremental is FuzzIndex for the index of an incremental bundle
// (bases and references to their blobs), from a delta of a week's update.
func FuzzIndexIncremental(f *testing.F) {
	dir := f.TempDir()
	weeks := chainTrees()
	var rs []*Reader
	for i, name := range []string{"w1", "d2"} {
		src := filepath.Join(dir, name+".tree")
		writeTree(f, src, weeks[i])
		out := filepath.Join(dir, name+".gobundle")
		packTree(f, src, out, WriterOptions{FrameSize: 4 << 10, Bases: rs})
		r, err := Open(context.Background(), out)
		if err != nil {
			f.Fatal(err)
		}
		defer r.Close()
		rs = append(rs, r)
	}
	d := rs[1]
	dataEnd, fileSize := d.tr.indexOff, d.size
	f.Add(d.ix.encode())
	f.Fuzz(func(t *testing.T, data []byte) { fuzzIndex(t, data, FlagIncremental, dataEnd, fileSize) })
}
