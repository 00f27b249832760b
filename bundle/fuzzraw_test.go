package bundle

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// FuzzRawBundle builds valid-looking bundles (every checksum correct, as
// an attacker who swapped a bundle would make them) from fuzzed structure:
// frames of fuzzed content and runs of zeros, blobs anywhere in them,
// module versions, zip file names and extras drawn from fuzzed bytes and
// from names known to be hostile. Opening, listing, verifying, unpacking
// and reading it must never panic nor take the heap past the ceiling; a
// bundle that opens and verifies must serve zips that golang.org/x/mod/zip
// accepts, as the go command will check them.
func FuzzRawBundle(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add([]byte("\x02\x40hello world\x00\x01\x03\x00\x00\x10\x01\x00\x01\x02\x01\x00\x00\x01"))
	f.Add(bytes.Repeat([]byte{0xff, 0x01, 0x7f}, 40))
	f.Add(bytes.Repeat([]byte{3, 0, 9, 200, 1}, 60))
	peak := startHeapWatch()
	f.Fuzz(func(t *testing.T, data []byte) {
		rb := rawFromFuzz(data)
		var buf bytes.Buffer
		if err := rb.Encode(&buf); err != nil {
			return // a structure Encode cannot lay out (a blob outside its frame)
		}
		peak.Store(0)
		dir := t.TempDir()
		ctx := context.Background()
		r, err := NewReader(ctx, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "fuzz")
		if err == nil {
			fuzzRead(t, ctx, r, dir)
			r.Close()
		}
		if p := peak.Load(); p > memoryCeilingFuzz {
			t.Fatalf("heap reached %d MiB on a %d-byte bundle", p>>20, buf.Len())
		}
	})
}

// memoryCeilingFuzz bounds the heap while a fuzzed bundle is read.
const memoryCeilingFuzz = 256 << 20

var heapWatch struct {
	once sync.Once
	peak atomic.Int64
}

// startHeapWatch samples the heap every millisecond into the peak it
// returns (one watcher per process).
func startHeapWatch() *atomic.Int64 {
	heapWatch.once.Do(func() {
		go func() {
			s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			for {
				metrics.Read(s)
				if v := int64(s[0].Value.Uint64()); v > heapWatch.peak.Load() {
					heapWatch.peak.Store(v)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	})
	return &heapWatch.peak
}

func fuzzRead(t *testing.T, ctx context.Context, r *Reader, dir string) {
	r.Stats()
	r.Extras()
	for _, x := range r.Extras() {
		r.ReadExtra(ctx, x.Kind, x.Name)
	}
	problems := r.Verify(ctx, nil)
	r.Unpack(ctx, filepath.Join(dir, "out"), nil)
	for _, m := range r.Modules() {
		for _, k := range []FileKind{KindInfo, KindMod, KindZip} {
			file, err := r.OpenFile(ctx, m.Path, m.Version, k)
			if err != nil {
				continue
			}
			data, err := io.ReadAll(file)
			file.Close()
			if err != nil || len(problems) > 0 || k != KindZip {
				continue
			}
			// Opened and verified: the go command must accept the zip.
			name := filepath.Join(dir, "z.zip")
			if err := os.WriteFile(name, data, 0o666); err != nil {
				t.Fatal(err)
			}
			if _, err := modzip.CheckZip(module.Version{Path: m.Path, Version: m.Version}, name); err != nil {
				t.Fatalf("%s@%s: verified zip fails golang.org/x/mod/zip: %v", m.Path, m.Version, err)
			}
		}
	}
}

// fuzzBytes hands out fuzzed choices; past the end it answers zeros.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) next() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

// n returns a number in [0, max).
func (f *fuzzBytes) n(max int) int {
	if max <= 0 {
		return 0
	}
	return int(uint16(f.next())<<8|uint16(f.next())) % max
}

func (f *fuzzBytes) take(n int) []byte {
	n = min(n, len(f.b))
	out := f.b[:n]
	f.b = f.b[n:]
	return out
}

func (f *fuzzBytes) pick(list []string) string { return list[f.n(len(list))] }

var (
	fuzzPaths    = []string{"example.com/a", "example.com/b", "Example.com/A", "../escaped", "example.com/a/v2", "golang.org/toolchain", ""}
	fuzzVersions = []string{"v1.0.0", "v1.0.1", "v2.0.0", "v0.0.0-20240102030405-abcdefabcdef", "v1.0.0+incompatible", "..", "latest"}
	fuzzNames    = []string{"go.mod", "a.go", "A.go", "../a.go", "a//b.go", "/abs.go", "x/y.go", "LICENSE", "vendor/x/y.go", "a.go/", "con.go", "sub/go.mod"}
	fuzzExtras   = []string{"sum.test/latest", "sum.test/record/example.com/a@v1.0.0", "sum.test/tile/8/0/000", "../escaped/latest", "x"}
	fuzzZeros    = []int64{0, 1, 1 << 10, 1 << 20, 3 << 20}
)

// rawFromFuzz draws a bundle's structure from data.
func rawFromFuzz(data []byte) *RawBundle {
	f := &fuzzBytes{b: data}
	rb := &RawBundle{}
	if f.next()%2 == 1 {
		rb.Meta.Properties = []Property{{Key: "sumdb.name", Value: f.pick([]string{"sum.test", "../escaped", "sum.test/../../x"})}}
	}
	for range 1 + f.n(3) {
		fr := RawFrame{Content: bytes.Clone(f.take(f.n(512))), Zeros: fuzzZeros[f.n(len(fuzzZeros))]}
		if len(fr.Content) == 0 && fr.Zeros == 0 {
			fr.Zeros = 1
		}
		rb.Frames = append(rb.Frames, fr)
	}
	for i := range rb.Frames {
		for range f.n(4) {
			size := rb.Frames[i].Size()
			off := int64(f.n(int(min(size, 1<<15))))
			rb.Blobs = append(rb.Blobs, RawBlob{Frame: i, Offset: off, Size: int64(f.n(int(min(size-off+1, 1<<15))))})
		}
	}
	blob := func() int { return f.n(len(rb.Blobs)) }
	for range f.n(4) {
		m := RawModule{Path: f.pick(fuzzPaths), Version: f.pick(fuzzVersions)}
		if len(rb.Blobs) > 0 {
			m.Mod = 1 + blob()
			b := rb.Blobs[m.Mod-1]
			if h, err := goModHash(rb.Frames[b.Frame].slice(b.Offset, b.Size)); err == nil {
				m.ModHash = h
			}
			if f.next()%2 == 0 {
				m.Info = 1 + blob()
			}
			switch f.next() % 3 {
			case 0:
				m.Files = []RawZipFile{}
				for range f.n(6) {
					name := f.pick(fuzzNames)
					if f.next()%4 == 0 {
						name = string(f.take(f.n(12)))
					}
					m.Files = append(m.Files, RawZipFile{Name: name, Blob: blob()})
				}
				sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Name < m.Files[j].Name })
			case 1:
				m.ZipBlob = 1 + blob()
			}
		}
		rb.Modules = append(rb.Modules, m)
	}
	sort.SliceStable(rb.Modules, func(i, j int) bool {
		a, b := rb.Modules[i], rb.Modules[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return versionLess(a.Version, b.Version)
	})
	if len(rb.Blobs) > 0 {
		for range f.n(3) {
			rb.Extras = append(rb.Extras, RawExtra{Kind: f.pick([]string{"sumdb", "other"}), Name: f.pick(fuzzExtras), Blob: blob()})
		}
		sort.SliceStable(rb.Extras, func(i, j int) bool {
			a, b := rb.Extras[i], rb.Extras[j]
			return a.Kind < b.Kind || (a.Kind == b.Kind && a.Name < b.Name)
		})
	}
	return rb
}
