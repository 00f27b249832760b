package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// A module whose content is almost all one repeated byte (real ones
// exist: a 70 MB frame of a large project compressed to 27 KB) makes a
// frame far beyond 512:1. A frame of module content may be that dense up
// to 128 MiB, so the writer writes it and a reader opens, verifies and
// serves it; before, the writer refused the frame and such a project
// could not be bundled.
func TestFrameOfOneRepeatedByteWritesAndReads(t *testing.T) {
	src := t.TempDir()
	zeros := make([]byte, 16<<20)
	writeTree(t, src, []testModule{{path: "example.com/zeros", version: "v1.0.0", mod: "module example.com/zeros\n",
		files: []testFile{{"go.mod", []byte("module example.com/zeros\n")}, {"zeros.bin", zeros}}}})
	ctx := context.Background()
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Pack(ctx, w, src, nil); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "z.gobundle")
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	r, err := Open(ctx, name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	var beyond bool
	for _, f := range r.ix.frames {
		beyond = beyond || !expansionOK(f.clen, f.ulen, ratioLimit)
	}
	if !beyond {
		t.Fatal("no frame beyond 512:1: the test no longer tests the case")
	}
	if ps := r.Verify(ctx, nil); len(ps) != 0 {
		t.Fatalf("Verify: %v", ps)
	}
	f, err := r.OpenFile(ctx, "example.com/zeros", "v1.0.0", KindZip)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		if strings.HasSuffix(zf.Name, "/zeros.bin") {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, zeros) {
				t.Fatalf("zeros.bin: %d bytes, %v", len(got), err)
			}
			return
		}
	}
	t.Fatal("zeros.bin not in the served zip")
}

// A bundle whose frames together claim more than 512 times their stored
// bytes beyond 1 GiB is refused when it is opened, before anything is
// decompressed, even when each frame is small enough to pass alone (the
// bound per frame it replaces let 1,100 frames of 1 MiB of zeros claim
// 1.1 GiB from a few hundred KB).
func TestFramesBeyondTotalExpansionRefused(t *testing.T) {
	rb := &RawBundle{Blobs: []RawBlob{{Frame: 0, Offset: 0, Size: 1}}}
	for range 1100 {
		rb.Frames = append(rb.Frames, RawFrame{Zeros: 1 << 20})
	}
	var buf bytes.Buffer
	if err := rb.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	_, err := NewReader(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), "bomb")
	if err == nil || !strings.Contains(err.Error(), "more than 512 times") {
		t.Fatalf("NewReader of %d bytes = %v, want the frames refused", buf.Len(), err)
	}
}

// A frame of extras (checksum database data) stays within 512:1: the
// writer refuses to write a denser one, readers refuse to open it.
func TestWriterRefusesDenseExtrasFrame(t *testing.T) {
	ctx := context.Background()
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.AddExtra(ctx, ExtraSource{Kind: "sumdb", Name: "db/latest", Data: make([]byte, 4<<20)}); err != nil {
		t.Fatal(err)
	}
	_, err = w.WriteFile(ctx, filepath.Join(t.TempDir(), "x.gobundle"))
	if err == nil || !strings.Contains(err.Error(), "more than the 512:1 a frame of extras may hold") {
		t.Fatalf("WriteFile = %v, want the frame refused", err)
	}
}

// Readers refuse a dense frame of module content over 128 MiB (or one
// holding an extra) before decompressing anything, and accept one within.
func TestDenseFrameBounds(t *testing.T) {
	for _, c := range []struct {
		name  string
		zeros int64
		extra bool
		want  string
	}{
		{"content within", 100 << 20, false, ""},
		{"content over 128 MiB", 129 << 20, false, "frame 0: "},
		{"extras", 2 << 20, true, "frame 0: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			rb := &RawBundle{
				Frames: []RawFrame{{Content: []byte("x"), Zeros: c.zeros}},
				Blobs:  []RawBlob{{Frame: 0, Offset: 0, Size: 1}},
			}
			if c.extra {
				rb.Extras = []RawExtra{{Kind: "sumdb", Name: "db/latest", Blob: 0}}
			}
			var buf bytes.Buffer
			if err := rb.Encode(&buf); err != nil {
				t.Fatal(err)
			}
			_, err := NewReader(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), "dense")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("NewReader: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrCorrupt)):
				t.Fatalf("NewReader = %v, want an ErrCorrupt naming %q", err, c.want)
			}
		})
	}
}

func TestFramesExpansionOK(t *testing.T) {
	for _, c := range []struct {
		stored, raw int64
		ok          bool
	}{
		{1, framesFloor, true},        // a tiny bundle may ask for one largest frame
		{1, framesFloor + 1, false},   // not more
		{4 << 20, 2 << 30, true},      // 512:1 beyond the floor
		{4 << 20, 2<<30 + 512, false}, // a little past it
		{200 << 20, 1600 << 20, true}, // a real bundle, 8:1
	} {
		if got := framesExpansionOK(c.stored, c.raw); got != c.ok {
			t.Errorf("framesExpansionOK(%d, %d) = %v, want %v", c.stored, c.raw, got, c.ok)
		}
	}
}
