// Package hostile builds the crafted bundles of issue 11 for the tests of
// every reader (bundle, serve, the command line): each has correct
// checksums, as an attacker who swapped a bundle would make them, and
// breaks a bound or a rule of docs/FORMAT.md, at a few hundred KB at most.
package hostile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/gobundle/gobundle/bundle"
)

// Case is a crafted bundle and what opening it must say: a part of the
// error (which wraps bundle.ErrCorrupt), or "" when the bundle opens and
// is to be read within bounds.
type Case struct {
	Name  string
	Build func() ([]byte, error)
	Want  string
}

func encode(rb *bundle.RawBundle) ([]byte, error) {
	var buf bytes.Buffer
	err := rb.Encode(&buf)
	return buf.Bytes(), err
}

// rawIndexBundle is a bundle without frames whose index is raw, encoded
// and checksummed as a writer would (docs/FORMAT.md, "Layout").
func rawIndexBundle(raw []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	comp := enc.EncodeAll(raw, nil)
	header := append([]byte(bundle.Magic), 1, 0, 0, 0, 0, 0, 0, 0)
	sum := sha256.Sum256(comp)
	tr := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	tr = binary.LittleEndian.AppendUint64(tr, uint64(len(comp)))
	tr = binary.LittleEndian.AppendUint64(tr, uint64(len(raw)))
	tr = append(tr, sum[:]...)
	tr = binary.LittleEndian.AppendUint64(tr, 0)
	tr = binary.LittleEndian.AppendUint64(tr, 0)
	tr = binary.LittleEndian.AppendUint32(tr, bundle.FormatVersion)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	tr = binary.LittleEndian.AppendUint32(tr, crc32.Update(crc32.Checksum(header, castagnoli), castagnoli, tr))
	tr = append(tr, "GBTRAILR"...)
	return append(append(header, comp...), tr...), nil
}

// indexPrefix encodes an index up to its module table: empty meta, no
// origins, frames or blobs.
func indexPrefix() []byte {
	b := append([]byte("GBIX"), 1)
	b = append(b, 1, 't') // tool
	b = append(b, 0)      // created
	for range 6 {         // inputs, mirrors, properties, origins, frames, blobs
		b = append(b, 0)
	}
	return b
}

func goModHash(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// oneBlobZip is a module version whose zip has the files names, all
// of them blob 0, and whose go.mod is blob 1.
func oneBlobZip(path, version string, names []string) bundle.RawModule {
	m := bundle.RawModule{Path: path, Version: version, Mod: 2, ModHash: "h1:x"}
	for _, n := range names {
		m.Files = append(m.Files, bundle.RawZipFile{Name: n, Blob: 0})
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

// Cases returns the crafted bundles of issue 11's findings, each built
// afresh.
func Cases() []Case {
	blob16k := func(frames ...bundle.RawFrame) *bundle.RawBundle {
		content := randomBytes(16 << 10)
		mod := []byte("module example.com/m\n")
		return &bundle.RawBundle{
			Frames: append([]bundle.RawFrame{{Content: append(content, mod...)}}, frames...),
			Blobs:  []bundle.RawBlob{{Frame: 0, Offset: 0, Size: 16 << 10}, {Frame: 0, Offset: 16 << 10, Size: int64(len(mod))}},
		}
	}
	return []Case{
		{
			// Finding 1: module entries of 8 index bytes, each ~184 bytes of
			// memory, in an index that compresses 1000:1.
			Name: "index-allocation-bomb",
			Build: func() ([]byte, error) {
				raw := indexPrefix()
				const n = 12 << 20
				raw = binary.AppendUvarint(raw, n)
				raw = append(raw, make([]byte, n*8)...)
				return rawIndexBundle(raw)
			},
			Want: "index of",
		},
		{
			// Finding 1 within the expansion bound: a count that the bytes
			// left cannot hold.
			Name: "index-count-bomb",
			Build: func() ([]byte, error) {
				raw := indexPrefix()
				raw = binary.AppendUvarint(raw, 1<<25)
				raw = append(raw, randomBytes(64<<10)...)
				return rawIndexBundle(raw)
			},
			Want: "count 33554432 out of range",
		},
		{
			// Finding 3: one frame of 256 MiB of zeros, a few KB stored,
			// holding one 16 KB file at its end.
			Name: "frame-bomb",
			Build: func() ([]byte, error) {
				rb := &bundle.RawBundle{
					Frames:  []bundle.RawFrame{{Zeros: 256 << 20}},
					Blobs:   []bundle.RawBlob{{Frame: 0, Offset: 0, Size: 10}, {Frame: 0, Offset: 256<<20 - 16<<10, Size: 16 << 10}},
					Modules: []bundle.RawModule{{Path: "example.com/m", Version: "v1.0.0", Mod: 1, ModHash: "h1:x", Files: []bundle.RawZipFile{{Name: "a.go", Blob: 1}}}},
				}
				return encode(rb)
			},
			Want: "frame 0: ",
		},
		{
			// Finding 3 within bounds: a frame that expands 400 times, its
			// 1,000 files spread over it, is read once per zip.
			Name: "frame-within-bounds",
			Build: func() ([]byte, error) {
				gomod := []byte("module example.com/m\n")
				modHash, err := goModHash(gomod)
				if err != nil {
					return nil, err
				}
				frame := bundle.RawFrame{Content: randomBytes(64 << 10), Zeros: 400 * 64 << 10}
				rb := &bundle.RawBundle{Frames: []bundle.RawFrame{{Content: gomod}, frame}}
				rb.Blobs = append(rb.Blobs, bundle.RawBlob{Frame: 0, Offset: 0, Size: int64(len(gomod))})
				m := bundle.RawModule{Path: "example.com/m", Version: "v1.0.0", Mod: 1, ModHash: modHash}
				for i, n := range manyNames(1000) {
					rb.Blobs = append(rb.Blobs, bundle.RawBlob{Frame: 1, Offset: int64(i) * (frame.Size() / 1000), Size: 16 << 10})
					m.Files = append(m.Files, bundle.RawZipFile{Name: n, Blob: len(rb.Blobs) - 1})
				}
				rb.Modules = []bundle.RawModule{m}
				return encode(rb)
			},
		},
		{
			// Finding 4: one stored file listed 65,535 times: a 1 GiB zip.
			Name: "zip-bomb-names",
			Build: func() ([]byte, error) {
				rb := blob16k()
				rb.Modules = []bundle.RawModule{oneBlobZip("example.com/m", "v1.0.0", manyNames(65535))}
				return encode(rb)
			},
			Want: "example.com/m@v1.0.0 zip: module source tree too large",
		},
		{
			// Finding 4 across versions: three zips of 100 MiB each from
			// one 16 KB file.
			Name: "zip-bomb-versions",
			Build: func() ([]byte, error) {
				rb := blob16k()
				for _, v := range []string{"v1.0.0", "v1.0.1", "v1.0.2"} {
					rb.Modules = append(rb.Modules, oneBlobZip("example.com/m", v, manyNames(6400)))
				}
				return encode(rb)
			},
			Want: "example.com/m@v1.0.2 zip: the zips add up to more than 4096 times",
		},
		{
			// Finding 7: a name twice, which verify hashed as one file.
			Name: "zip-duplicate-name",
			Build: func() ([]byte, error) {
				rb := blob16k()
				rb.Modules = []bundle.RawModule{oneBlobZip("example.com/m", "v1.0.0", []string{"a.go", "a.go"})}
				return encode(rb)
			},
			Want: `example.com/m@v1.0.0 zip: file names not sorted or duplicated at "a.go"`,
		},
		{
			Name: "zip-case-fold-collision",
			Build: func() ([]byte, error) {
				rb := blob16k()
				rb.Modules = []bundle.RawModule{oneBlobZip("example.com/m", "v1.0.0", []string{"A.go", "a.go"})}
				return encode(rb)
			},
			Want: `example.com/m@v1.0.0 zip: `,
		},
		{
			Name: "zip-dot-dot",
			Build: func() ([]byte, error) {
				rb := blob16k()
				rb.Modules = []bundle.RawModule{oneBlobZip("example.com/m", "v1.0.0", []string{"../../escaped.go"})}
				return encode(rb)
			},
			Want: `example.com/m@v1.0.0 zip: `,
		},
		{
			Name: "zip-not-canonical",
			Build: func() ([]byte, error) {
				rb := blob16k()
				rb.Modules = []bundle.RawModule{oneBlobZip("example.com/m", "v1.0.0", []string{"a//b.go"})}
				return encode(rb)
			},
			Want: `example.com/m@v1.0.0 zip: `,
		},
		{
			// A module path that would leave the unpack directory.
			Name: "module-path-escape",
			Build: func() ([]byte, error) {
				rb := blob16k()
				rb.Modules = []bundle.RawModule{{Path: "../../escaped", Version: "v1.0.0", Mod: 2, ModHash: "h1:x"}}
				return encode(rb)
			},
			Want: `module entry "../../escaped"@"v1.0.0"`,
		},
		{
			// Finding 2: a signed tree head of a megabyte (serve held it
			// once per record answer): compressed, its frame expands too
			// far; stored plainly, sumdbstore refuses it by size.
			Name: "sumdb-head-bomb",
			Want: "frame 0: ",
			Build: func() ([]byte, error) {
				head := append([]byte("go.sum database tree\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"),
					bytes.Repeat([]byte("— sum.test AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 1<<20/100)...)
				return sumdbBundle("sum.test", map[string][]byte{"sum.test/latest": head})
			},
		},
		{
			// Finding 5: a database name that leaves unpack's directory.
			// The bundle opens; its checksum database data is refused.
			Name: "sumdb-name-escape",
			Build: func() ([]byte, error) {
				return sumdbBundle("../escaped", map[string][]byte{"../escaped/latest": []byte("go.sum database tree\n1\n\n")})
			},
		},
	}
}

// sumdbBundle is a bundle with checksum database entries of database db
// (sorted by name) and the sumdb.name property.
func sumdbBundle(db string, entries map[string][]byte) ([]byte, error) {
	rb := &bundle.RawBundle{Meta: bundle.Meta{Properties: []bundle.Property{{Key: "sumdb.name", Value: db}}}}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var content []byte
	for _, n := range names {
		rb.Blobs = append(rb.Blobs, bundle.RawBlob{Frame: 0, Offset: int64(len(content)), Size: int64(len(entries[n]))})
		rb.Extras = append(rb.Extras, bundle.RawExtra{Kind: "sumdb", Name: n, Blob: len(rb.Blobs) - 1})
		content = append(content, entries[n]...)
	}
	rb.Frames = []bundle.RawFrame{{Content: content}}
	return encode(rb)
}
