package bundle

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// A hostile bundle has correct checksums: whoever swapped it recomputed
// them. Each case below is one finding of issue 11, built in the test at
// a few hundred KB at most; the readers must refuse it naming the entry,
// or serve it within the bounds docs/FORMAT.md states.

// hostileCase is a crafted bundle and what opening it must say ("" when
// it opens, to be read within bounds).
type hostileCase struct {
	name  string
	build func(t testing.TB) []byte
	want  string
}

func encodeRaw(t testing.TB, rb *RawBundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := rb.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawIndexBundle is a bundle without frames whose index is raw, encoded
// and checksummed as a writer would.
func rawIndexBundle(t testing.TB, raw []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	comp := enc.EncodeAll(raw, nil)
	header := encodeHeader()
	tr := trailer{indexOff: headerSize, indexLen: int64(len(comp)), indexRawLen: int64(len(raw)), indexSum: sha256.Sum256(comp), version: FormatVersion}
	return append(append(header, comp...), encodeTrailer(tr, header)...)
}

// indexPrefix encodes an index up to its module table: empty meta, no
// origins, frames or blobs.
func indexPrefix() []byte {
	e := &encoder{}
	e.b = append(e.b, indexMagic...)
	e.uvarint(FormatVersion)
	e.str("t")
	e.varint(0)
	for range 5 { // inputs, mirrors, properties, origins, frames
		e.uvarint(0)
	}
	e.uvarint(0) // blobs
	return e.b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// oneBlobZip is a module version whose zip has the files names, all
// of them blob 0, and whose go.mod is blob 1.
func oneBlobZip(path, version string, names []string) RawModule {
	m := RawModule{Path: path, Version: version, Mod: 2, ModHash: "h1:x"}
	for _, n := range names {
		m.Files = append(m.Files, RawZipFile{Name: n, Blob: 0})
	}
	return m
}

func manyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("f%05d.go", i)
	}
	return out
}

func hostileCases() []hostileCase {
	blob16k := func(frames ...RawFrame) *RawBundle {
		content := randomBytes(16 << 10)
		mod := []byte("module example.com/m\n")
		return &RawBundle{
			Frames: append([]RawFrame{{Content: append(content, mod...)}}, frames...),
			Blobs:  []RawBlob{{0, 0, 16 << 10}, {0, 16 << 10, int64(len(mod))}},
		}
	}
	return []hostileCase{
		{
			// Finding 1: module entries of 8 index bytes, each ~184 bytes of
			// memory, in an index that compresses 1000:1.
			name: "index-allocation-bomb",
			build: func(t testing.TB) []byte {
				raw := indexPrefix()
				const n = 12 << 20
				raw = binary.AppendUvarint(raw, n)
				raw = append(raw, make([]byte, n*8)...)
				return rawIndexBundle(t, raw)
			},
			want: "index of",
		},
		{
			// Finding 1 within the expansion bound: a count that the bytes
			// left cannot hold.
			name: "index-count-bomb",
			build: func(t testing.TB) []byte {
				raw := indexPrefix()
				raw = binary.AppendUvarint(raw, 1<<25)
				raw = append(raw, randomBytes(64<<10)...)
				return rawIndexBundle(t, raw)
			},
			want: "count 33554432 out of range",
		},
		{
			// Finding 3: one frame of 256 MiB of zeros, a few KB stored,
			// holding one 16 KB file at its end.
			name: "frame-bomb",
			build: func(t testing.TB) []byte {
				rb := &RawBundle{
					Frames:  []RawFrame{{Zeros: 256 << 20}},
					Blobs:   []RawBlob{{0, 0, 10}, {0, 256<<20 - 16<<10, 16 << 10}},
					Modules: []RawModule{{Path: "example.com/m", Version: "v1.0.0", Mod: 1, ModHash: "h1:x", Files: []RawZipFile{{"a.go", 1}}}},
				}
				return encodeRaw(t, rb)
			},
			want: "frame 0: ",
		},
		{
			// Finding 3 within bounds: a frame that expands 400 times, its
			// 1,000 files spread over it, is read once per zip.
			name: "frame-within-bounds",
			build: func(t testing.TB) []byte {
				gomod := []byte("module example.com/m\n")
				modHash, err := goModHash(gomod)
				if err != nil {
					t.Fatal(err)
				}
				frame := RawFrame{Content: randomBytes(64 << 10), Zeros: 400 * 64 << 10}
				rb := &RawBundle{Frames: []RawFrame{{Content: gomod}, frame}}
				rb.Blobs = append(rb.Blobs, RawBlob{0, 0, int64(len(gomod))})
				m := RawModule{Path: "example.com/m", Version: "v1.0.0", Mod: 1, ModHash: modHash}
				for i, n := range manyNames(1000) {
					rb.Blobs = append(rb.Blobs, RawBlob{1, int64(i) * (frame.size() / 1000), 16 << 10})
					m.Files = append(m.Files, RawZipFile{Name: n, Blob: len(rb.Blobs) - 1})
				}
				rb.Modules = []RawModule{m}
				return encodeRaw(t, rb)
			},
		},
		{
			// Finding 4: one stored file listed 65,535 times: a 1 GiB zip.
			name: "zip-bomb-names",
			build: func(t testing.TB) []byte {
				rb := blob16k()
				rb.Modules = []RawModule{oneBlobZip("example.com/m", "v1.0.0", manyNames(65535))}
				return encodeRaw(t, rb)
			},
			want: "example.com/m@v1.0.0 zip: module source tree too large",
		},
		{
			// Finding 4 across versions: three zips of 100 MiB each from
			// one 16 KB file.
			name: "zip-bomb-versions",
			build: func(t testing.TB) []byte {
				rb := blob16k()
				for _, v := range []string{"v1.0.0", "v1.0.1", "v1.0.2"} {
					rb.Modules = append(rb.Modules, oneBlobZip("example.com/m", v, manyNames(6400)))
				}
				return encodeRaw(t, rb)
			},
			want: "example.com/m@v1.0.2 zip: the zips add up to more than 4096 times",
		},
		{
			// Finding 7: a name twice, which verify hashed as one file.
			name: "zip-duplicate-name",
			build: func(t testing.TB) []byte {
				rb := blob16k()
				rb.Modules = []RawModule{oneBlobZip("example.com/m", "v1.0.0", []string{"a.go", "a.go"})}
				return encodeRaw(t, rb)
			},
			want: `example.com/m@v1.0.0 zip: file names not sorted or duplicated at "a.go"`,
		},
		{
			name: "zip-case-fold-collision",
			build: func(t testing.TB) []byte {
				rb := blob16k()
				rb.Modules = []RawModule{oneBlobZip("example.com/m", "v1.0.0", []string{"A.go", "a.go"})}
				return encodeRaw(t, rb)
			},
			want: `example.com/m@v1.0.0 zip: `,
		},
		{
			name: "zip-dot-dot",
			build: func(t testing.TB) []byte {
				rb := blob16k()
				rb.Modules = []RawModule{oneBlobZip("example.com/m", "v1.0.0", []string{"../../escaped.go"})}
				return encodeRaw(t, rb)
			},
			want: `example.com/m@v1.0.0 zip: `,
		},
		{
			name: "zip-not-canonical",
			build: func(t testing.TB) []byte {
				rb := blob16k()
				rb.Modules = []RawModule{oneBlobZip("example.com/m", "v1.0.0", []string{"a//b.go"})}
				return encodeRaw(t, rb)
			},
			want: `example.com/m@v1.0.0 zip: `,
		},
		{
			// A module path that would leave the unpack directory.
			name: "module-path-escape",
			build: func(t testing.TB) []byte {
				rb := blob16k()
				rb.Modules = []RawModule{{Path: "../../escaped", Version: "v1.0.0", Mod: 2, ModHash: "h1:x"}}
				return encodeRaw(t, rb)
			},
			want: `module entry "../../escaped"@"v1.0.0"`,
		},
	}
}

// TestHostileBundlesRefused opens every crafted bundle: it is refused
// with an error naming the entry, or every file reads within bounds.
func TestHostileBundlesRefused(t *testing.T) {
	ctx := context.Background()
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			data := c.build(t)
			if len(data) > 400<<10 {
				t.Fatalf("crafted bundle is %d bytes, want a few hundred KB at most", len(data))
			}
			err := hostileOps(ctx, data, t.TempDir())
			if c.want == "" {
				if err != nil {
					t.Fatalf("within bounds, yet: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want an ErrCorrupt naming %q", err, c.want)
			}
		})
	}
}

// hostileOps does to a bundle what inspect, verify, unpack and serve do:
// open it, list it, verify it, unpack it and read every file.
func hostileOps(ctx context.Context, data []byte, dir string) error {
	name := filepath.Join(dir, "h.gobundle")
	if err := os.WriteFile(name, data, 0o666); err != nil {
		return err
	}
	r, err := Open(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	r.Stats()
	r.Modules()
	r.Extras()
	if problems := r.Verify(ctx, nil); len(problems) > 0 {
		return fmt.Errorf("verify: %v", problems)
	}
	if err := r.Unpack(ctx, filepath.Join(dir, "out"), nil); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	for _, m := range r.Modules() {
		for _, k := range []FileKind{KindInfo, KindMod, KindZip} {
			f, err := r.OpenFile(ctx, m.Path, m.Version, k)
			if err != nil {
				continue
			}
			_, err = io.Copy(io.Discard, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
