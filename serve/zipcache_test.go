package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/bundle"
)

// sourceLike returns deterministic Go-like text of about n bytes, which
// deflates about as real source does.
func sourceLike(seed, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		x := (i*7919 + seed*104729) % 1000
		fmt.Fprintf(&b, "// F%d returns value %d of the table (%d).\nfunc F%d(v int) (int, error) {\n\tif v > %d {\n\t\treturn 0, fmt.Errorf(\"index %%d > %d\", v)\n\t}\n\treturn v * %d, nil\n}\n\n", i, x, x*3, i, x, x, x%97)
	}
	return b.String()
}

func sourceMod(path string, files, size int) testMod {
	m := testMod{path: path, version: "v1.0.0", files: map[string]string{"go.mod": "module " + path + "\n"}}
	for i := range files {
		m.files[fmt.Sprintf("p%d/f.go", i)] = sourceLike(i, size)
	}
	return m
}

// deflatedServer serves a bundle of a small and a large (over 1 MiB
// deflated) module of source text with a zip cache, and returns the
// bundle's modules and the size of each original zip.
func deflatedServer(t *testing.T, extra ...testMod) (*bundle.Reader, string, string, map[string]int64) {
	small, large := sourceMod("example.com/small", 8, 16<<10), sourceMod("example.com/large", 16, 512<<10)
	large.files["random.bin"] = randomText(3 << 20) // over 1 MiB once deflated: sent as it is checked
	name := filepath.Join(t.TempDir(), "d.gobundle")
	mods := append([]testMod{small, large}, extra...)
	writeBundle(t, name, 0, mods...)
	orig := map[string]int64{}
	dir := t.TempDir()
	for _, m := range mods {
		st, err := os.Stat(writeZip(t, dir, m))
		if err != nil {
			t.Fatal(err)
		}
		orig[m.path] = st.Size()
	}
	r, err := bundle.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, name, t.TempDir(), orig
}

func cachedZips(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".zip") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestServeDeflatedZips: with a zip cache, serve answers zips deflated:
// no larger than the mirror's (±10 %), the same h1: as the original, the
// sha256 the bundle records (also the ETag), made once into the cache and
// sent from there again; ranges are cut from the checked file.
func TestServeDeflatedZips(t *testing.T) {
	r, name, cache, orig := deflatedServer(t)
	_, ts, _ := startServer(t, Options{Bundles: []string{name}, ZipCacheDir: cache})
	for _, path := range []string{"example.com/small", "example.com/large"} {
		m, _ := r.Module(path, "v1.0.0")
		url := ts.URL + "/" + path + "/@v/v1.0.0.zip"
		for round := range 2 {
			resp, body := mustGet(t, "GET", url)
			if resp.StatusCode != 200 || int64(len(body)) != m.Zip.Size || bundle.Sum(sha256.Sum256(body)) != m.Zip.SHA256 {
				t.Fatalf("%s round %d: %d, %d bytes; index says %+v", path, round, resp.StatusCode, len(body), *m.Zip)
			}
			if resp.Header.Get("ETag") != `"`+m.Zip.SHA256.String()+`"` {
				t.Errorf("%s: ETag %s, want the deflated zip's sha256", path, resp.Header.Get("ETag"))
			}
			if zipHash(t, body) != m.ZipHash {
				t.Errorf("%s: served zip h1 %s, bundle %s", path, zipHash(t, body), m.ZipHash)
			}
			if float64(len(body)) > 1.1*float64(orig[path]) || path == "example.com/small" && m.ZipStored.Size < 3*int64(len(body)) {
				t.Errorf("%s: served %d bytes, mirror's zip %d, stored form %d", path, len(body), orig[path], m.ZipStored.Size)
			}
		}
	}
	if got := cachedZips(t, cache); len(got) != 2 {
		t.Errorf("zip cache holds %q, want the two zips", got)
	}
	m, _ := r.Module("example.com/large", "v1.0.0")
	var full bytes.Buffer
	if _, err := r.WriteZip(context.Background(), m.Path, m.Version, &full); err != nil {
		t.Fatal(err)
	}
	resp, body := mustGet(t, "GET", ts.URL+"/example.com/large/@v/v1.0.0.zip", "Range: bytes=1000-1999")
	if resp.StatusCode != 206 || !bytes.Equal(body, full.Bytes()[1000:2000]) {
		t.Errorf("range: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = mustGet(t, "HEAD", ts.URL+"/example.com/large/@v/v1.0.0.zip")
	if resp.StatusCode != 200 || resp.ContentLength != m.Zip.Size || len(body) != 0 {
		t.Errorf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

// TestServeZipCacheFileCorrupt: a cached file that no longer matches its
// sha256 is never taken for good: a small one is answered with the stored
// zip instead, a large one's transfer is broken off before its last bytes;
// both are removed and made again by the next request.
func TestServeZipCacheFileCorrupt(t *testing.T) {
	r, name, cache, _ := deflatedServer(t)
	_, ts, logs := startServer(t, Options{Bundles: []string{name}, ZipCacheDir: cache})
	for _, path := range []string{"example.com/small", "example.com/large"} {
		m, _ := r.Module(path, "v1.0.0")
		url := ts.URL + "/" + path + "/@v/v1.0.0.zip"
		mustGet(t, "GET", url)
		file := filepath.Join(cache, m.Zip.SHA256.String()[:2], m.Zip.SHA256.String()+".zip")
		data := mustRead(t, file)
		data[len(data)/2] ^= 1
		os.WriteFile(file, data, 0o666)
		resp, body, err := get(t, "GET", url)
		if path == "example.com/small" {
			if err != nil || resp.StatusCode != 200 || bundle.Sum(sha256.Sum256(body)) != m.ZipStored.SHA256 || zipHash(t, body) != m.ZipHash {
				t.Errorf("%s from a corrupt cache file: %v, %d bytes, want the stored zip", path, err, len(body))
			}
		} else if err == nil && bundle.Sum(sha256.Sum256(body)) != m.Zip.SHA256 && int64(len(body)) == m.Zip.Size {
			t.Errorf("%s: a corrupt cache file was sent whole (%d bytes)", path, len(body))
		} else if err == nil {
			t.Errorf("%s: transfer of a corrupt cache file completed (%d bytes)", path, len(body))
		}
		if _, err := os.Stat(file); err == nil {
			t.Errorf("%s: corrupt cache file kept", path)
		}
		resp, body = mustGet(t, "GET", url)
		if resp.StatusCode != 200 || bundle.Sum(sha256.Sum256(body)) != m.Zip.SHA256 {
			t.Errorf("%s after the corrupt cache file: %d, %d bytes", path, resp.StatusCode, len(body))
		}
	}
	if !strings.Contains(logs.String(), "corrupt bundle content refused") {
		t.Errorf("corrupt cache files not logged:\n%s", logs)
	}
}

// TestServeDeflatedCorruptBundle: a zip whose bundle content fails its
// checksum is answered 500 and leaves nothing in the zip cache.
func TestServeDeflatedCorruptBundle(t *testing.T) {
	marker := randomText(4096)
	bad := testMod{path: "example.com/bad", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/bad\n", "data.bin": marker, "a.go": sourceLike(1, 64<<10)}}
	_, name, cache, _ := deflatedServer(t, bad)
	damage(t, name, marker)
	_, ts, logs := startServer(t, Options{Bundles: []string{name}, ZipCacheDir: cache})
	resp, body := mustGet(t, "GET", ts.URL+"/example.com/bad/@v/v1.0.0.zip")
	if resp.StatusCode != 500 || !strings.Contains(string(body), "failed its checksum") {
		t.Errorf("corrupt zip: %d %q", resp.StatusCode, body)
	}
	if got := cachedZips(t, cache); len(got) != 0 {
		t.Errorf("zip cache holds %q after a corrupt build", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(cache)); len(ents) > 0 {
		for _, e := range ents {
			sub, _ := os.ReadDir(filepath.Join(cache, e.Name()))
			if len(sub) != 0 {
				t.Errorf("zip cache holds %s/%s", e.Name(), sub[0].Name())
			}
		}
	}
	if !strings.Contains(logs.String(), "corrupt bundle content refused") {
		t.Errorf("not logged:\n%s", logs)
	}
}

// notReproduced is a bundle read by a gobundle whose compressor makes
// other bytes than the one that wrote it.
type notReproduced struct{ source }

func (n notReproduced) WriteZip(ctx context.Context, path, version string, w io.Writer) (bundle.FileInfo, error) {
	io.WriteString(w, "other bytes")
	return bundle.FileInfo{}, fmt.Errorf("%s@%s: %w", path, version, bundle.ErrNotReproduced)
}

// TestServeNotReproducedServesStored: a deflated zip this server cannot
// reproduce is answered with the stored zip (checked against its own
// sha256, same h1:), tried once and remembered; nothing is cached.
func TestServeNotReproducedServesStored(t *testing.T) {
	r, name, cache, _ := deflatedServer(t)
	s, err := newServer(context.Background(), Options{Bundles: []string{name}, ZipCacheDir: cache}, func(ctx context.Context, name string) (source, error) {
		src, err := openReader(ctx, name, 0, nil, false)
		return notReproduced{src}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, path := range []string{"example.com/small", "example.com/large"} {
		m, _ := r.Module(path, "v1.0.0")
		for range 2 {
			rec := httptestGet(s, "/"+path+"/@v/v1.0.0.zip")
			body := rec.Body.Bytes()
			if rec.Code != 200 || bundle.Sum(sha256.Sum256(body)) != m.ZipStored.SHA256 || zipHash(t, body) != m.ZipHash {
				t.Fatalf("%s: %d, %d bytes; want the stored zip %+v", path, rec.Code, len(body), *m.ZipStored)
			}
			if rec.Header().Get("ETag") != `"`+m.ZipStored.SHA256.String()+`"` {
				t.Errorf("%s: ETag %s, want the stored zip's", path, rec.Header().Get("ETag"))
			}
		}
	}
	if got := cachedZips(t, cache); len(got) != 0 {
		t.Errorf("zip cache holds %q", got)
	}
}

func httptestGet(s *Server, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}
