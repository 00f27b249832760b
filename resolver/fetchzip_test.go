package resolver

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// bombZip returns a module zip of m whose file bomb.go inflates to 1 MiB
// while its headers declare 100 bytes: golang.org/x/mod/zip's checks of
// the headers pass it, only reading it through finds it.
func bombZip(t *testing.T, m module.Version) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, content []byte, declared uint64) {
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		fw.Write(content)
		fw.Close()
		h := &zip.FileHeader{Name: m.Path + "@" + m.Version + "/" + name, Method: zip.Deflate,
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared, CRC32: crc32.ChecksumIEEE(content)}
		w, err := zw.CreateRaw(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(comp.Bytes())
	}
	gomod := []byte("module " + m.Path + "\n")
	add("go.mod", gomod, uint64(len(gomod)))
	add("bomb.go", make([]byte, 1<<20), 100)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// holdsContent reports whether a file under dir holds data.
func holdsContent(t *testing.T, dir string, data []byte) bool {
	t.Helper()
	sum := sha256.Sum256(data)
	found := false
	filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(name); err == nil && sha256.Sum256(b) == sum {
				found = true
			}
		}
		return nil
	})
	return found
}

// TestFetchZipReadEndsTheCheck: the read through every file that ends the
// check of a downloaded zip is the caller's when it gives one (a bundle
// writer reads each zip in anyway), so a zip is inflated once; it runs on
// the zip at its place before its key is recorded, and a zip it refuses is
// removed. Without a reader, Fetch reads the zip through itself.
func TestFetchZipReadEndsTheCheck(t *testing.T) {
	ctx := context.Background()
	mod := ftMakeModule(t, "example.com/z", "v1.0.0")
	mv := module.Version{Path: mod.path, Version: mod.version}
	bomb := bombZip(t, mv)
	zipURL := func(s *ftServer) string { return s.URL + "/example.com/z/@v/v1.0.0.zip" }
	refused := func(t *testing.T, m *Mirrors, cache string, err error, want string) {
		t.Helper()
		if err == nil || err.Error() != want {
			t.Fatalf("error %v\nwant %s", err, want)
		}
		if _, ok := m.cache.get(ctx, mv.Path, mv.Version, "zip"); ok {
			t.Error("the refused zip has a key")
		}
		if holdsContent(t, cache, bomb) {
			t.Error("the refused zip is in the cache")
		}
	}

	t.Run("own-read-refuses-bomb", func(t *testing.T) {
		s := ftNewServer(t, mod)
		s.files["example.com/z/@v/v1.0.0.zip"] = bomb
		cache := t.TempDir()
		m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.CacheDir = cache })
		_, err := m.Fetch(ctx, mv.Path, mv.Version, "zip")
		refused(t, m, cache, err, "example.com/z@v1.0.0: invalid module zip from "+zipURL(s)+": example.com/z@v1.0.0/bomb.go: zip: not a valid zip file")
	})

	t.Run("reader-refuses", func(t *testing.T) {
		s := ftNewServer(t, mod)
		s.files["example.com/z/@v/v1.0.0.zip"] = bomb
		cache := t.TempDir()
		m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.CacheDir = cache })
		_, _, err := m.FetchZip(ctx, mv.Path, mv.Version, func(ctx context.Context, m module.Version, f Fetched) (string, error) {
			// The reader's own ModuleError is taken apart: the module
			// version is named once.
			return "", &module.ModuleError{Path: m.Path, Version: m.Version, Err: errors.New("example.com/z@v1.0.0/bomb.go: too big")}
		})
		refused(t, m, cache, err, "example.com/z@v1.0.0: invalid module zip from "+zipURL(s)+": example.com/z@v1.0.0/bomb.go: too big")
	})

	t.Run("reader-io-error", func(t *testing.T) { testFetchZipReaderIOError(t, mod) })

	t.Run("reader-is-the-read", func(t *testing.T) {
		s := ftNewServer(t, mod)
		s.files["example.com/z/@v/v1.0.0.zip"] = bomb
		cache := t.TempDir()
		m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.CacheDir = cache })
		const fake = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		calls := 0
		read := func(ctx context.Context, got module.Version, f Fetched) (string, error) {
			calls++
			if got != mv {
				t.Errorf("read of %v, want %v", got, mv)
			}
			if b, err := os.ReadFile(f.File); err != nil || !bytes.Equal(b, bomb) {
				t.Errorf("read's file %s does not hold the zip downloaded (%v)", f.File, err)
			}
			if _, ok := m.cache.get(ctx, mv.Path, mv.Version, "zip"); ok {
				t.Error("the zip's key is recorded before its read ended")
			}
			// This reader vouches for the bomb without reading it: the
			// fetch takes its word, so it did not inflate the zip itself.
			return fake, nil
		}
		f, h1, err := m.FetchZip(ctx, mv.Path, mv.Version, read)
		if err != nil || h1 != fake || calls != 1 {
			t.Fatalf("FetchZip = %s, %v after %d reads; want the reader's %s after 1 (the fetch read the zip itself?)", h1, err, calls, fake)
		}
		// From the cache: checked when stored, not read again.
		g, h1, err := m.FetchZip(ctx, mv.Path, mv.Version, read)
		if err != nil || h1 != "" || calls != 1 || g != f {
			t.Fatalf("FetchZip from the cache = %+v %q %v after %d reads; want %+v, no hash, 1 read", g, h1, err, calls, f)
		}
	})

	t.Run("own-read-hashes", func(t *testing.T) {
		s := ftNewServer(t, mod)
		m := ftMirrors(t, s.URL)
		f, h1, err := m.FetchZip(ctx, mv.Path, mv.Version, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := dirhash.HashZip(f.File, dirhash.Hash1)
		if err != nil || h1 != want {
			t.Fatalf("FetchZip's hash %s, dirhash.HashZip's %s (%v)", h1, want, err)
		}
		// Remembered, as ZipHash would: a later run inflates nothing.
		if h, cached, err := m.ZipHash(ctx, mv.Path, mv.Version, f); err != nil || !cached || h != want {
			t.Errorf("ZipHash after FetchZip = %s, cached %v, %v; want %s from the cache", h, cached, err, want)
		}
	})
}

// testFetchZipReaderIOError: a read that fails on a file of its own (a
// full disk under a writer's spool) is not the zip's fault, and the error
// says so.
func testFetchZipReaderIOError(t *testing.T, mod ftModule) {
	ctx := context.Background()
	s := ftNewServer(t, mod)
	m := ftMirrors(t, s.URL)
	_, _, err := m.FetchZip(ctx, mod.path, mod.version, func(ctx context.Context, m module.Version, f Fetched) (string, error) {
		return "", fmt.Errorf("writing spool: %w", &fs.PathError{Op: "write", Path: "/tmp/spool", Err: syscall.ENOSPC})
	})
	if err == nil || strings.Contains(err.Error(), "invalid module zip") || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v, want the spool's, not an invalid zip", err)
	}
	if _, ok := m.cache.get(ctx, mod.path, mod.version, "zip"); ok {
		t.Error("a zip whose read failed has a key")
	}
}

// TestResolveHashZipReadsOnce: on a cold cache, Config.HashZip (a bundle
// writer's read) is the read that ends each zip's check, inside the fetch
// before the zip is recorded, and the only one: each zip is read once.
func TestResolveHashZipReadsOnce(t *testing.T) {
	o := fixtures.GenOptions{Modules: 10, Versions: 2, Seed: 5}
	dir, _, up := generatedProject(t, o)
	in, err := ParseInput(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMirrors(MirrorConfig{Proxy: up.URL, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		reads    = map[module.Version]int{}
		recorded []module.Version // read when its key was already recorded
	)
	res, err := Resolve(context.Background(), Config{Inputs: []Input{in}, Mirrors: m,
		HashZip: func(ctx context.Context, mv module.Version, f Fetched) (string, error) {
			_, ok := m.cache.get(ctx, mv.Path, mv.Version, "zip")
			mu.Lock()
			reads[mv]++
			if ok {
				recorded = append(recorded, mv)
			}
			mu.Unlock()
			return hashZip(mv, f.File)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Zips != o.Modules {
		t.Fatalf("%d zips, want %d", res.Stats.Zips, o.Modules)
	}
	for _, mod := range res.Modules {
		mv := module.Version{Path: mod.Path, Version: mod.Version}
		if mod.Zip != nil && reads[mv] != 1 {
			t.Errorf("%v: read %d times, want once", mv, reads[mv])
		}
	}
	if len(recorded) > 0 {
		t.Errorf("read after their keys were recorded (not as the fetch's check): %v", recorded)
	}
	if holdsAny(t, filepath.Join(m.cache.dir, "h1")) {
		t.Error("the mirrors hashed zips themselves (h1/ records) though HashZip read them")
	}
}

// holdsAny reports whether dir holds a file.
func holdsAny(t *testing.T, dir string) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		found = found || err == nil && !d.IsDir()
		return nil
	})
	return found
}
