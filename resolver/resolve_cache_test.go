package resolver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/internal/applog"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// generatedProject writes the generated project of o, with its go.sum, to
// a temporary directory and starts a fake upstream serving its module set
// (closed when the test ends).
func generatedProject(t *testing.T, o fixtures.GenOptions) (string, *fixtures.Set, *fakeproxy.Server) {
	t.Helper()
	set := fixtures.Generate(o)
	up := fakeproxy.Start(set, 1)
	t.Cleanup(up.Close)
	dir := t.TempDir()
	if err := fixtures.WriteArchive(fixtures.GenProject(o), dir); err != nil {
		t.Fatal(err)
	}
	if err := set.WriteGoSum(dir); err != nil {
		t.Fatal(err)
	}
	return dir, set, up
}

// resolveGenerated resolves the generated project in dir through up with a
// fresh Mirrors on cache.
func resolveGenerated(t *testing.T, dir, upURL, cache string) *Result {
	t.Helper()
	m, err := NewMirrors(MirrorConfig{Proxy: upURL, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ParseInput(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(context.Background(), Config{Inputs: []Input{in}, Mirrors: m})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestResolveWarmCacheInflatesNoZip checks that a second resolution with
// the same download cache takes every zip's go.sum hash from the cache
// (no zip is inflated) and gets the same hashes, and that a damaged hash
// record is ignored and rewritten.
func TestResolveWarmCacheInflatesNoZip(t *testing.T) {
	o := fixtures.GenOptions{Modules: 20, Versions: 3, Seed: 9}
	dir, _, up := generatedProject(t, o)
	cache := t.TempDir()

	cold := resolveGenerated(t, dir, up.URL, cache)
	// The prefetch lane may also hash zips of requirements that MVS then
	// passes over.
	if cold.Stats.Zips != o.Modules || cold.Stats.ZipsHashed < o.Modules || cold.Stats.ZipHashesCached != 0 {
		t.Fatalf("cold: %d zips, %d hashed, %d from cache; want %d, at least %[4]d, 0", cold.Stats.Zips, cold.Stats.ZipsHashed, cold.Stats.ZipHashesCached, o.Modules)
	}
	warm := resolveGenerated(t, dir, up.URL, cache)
	if warm.Stats.ZipsHashed != 0 || warm.Stats.ZipHashesCached != o.Modules {
		t.Fatalf("warm: %d zips hashed, %d from cache; want 0, %d", warm.Stats.ZipsHashed, warm.Stats.ZipHashesCached, o.Modules)
	}
	if warm.Stats.Fetch.Requests != 0 {
		t.Errorf("warm: %d requests, want 0", warm.Stats.Fetch.Requests)
	}
	hashes := map[string]string{}
	var damaged string
	for _, m := range cold.Modules {
		if m.Zip != nil {
			hashes[m.Path+"@"+m.Version] = m.ZipHash
			damaged = m.Zip.SHA256
		}
	}
	for _, m := range warm.Modules {
		if m.Zip == nil {
			continue
		}
		if want := hashes[m.Path+"@"+m.Version]; m.ZipHash != want || want == "" {
			t.Errorf("%s@%s: warm zip hash %s, cold %s", m.Path, m.Version, m.ZipHash, want)
		}
	}

	// A damaged record is not trusted: that zip is hashed again.
	rec := filepath.Join(cache, "h1", damaged[:2], damaged)
	if err := os.WriteFile(rec, []byte("h1:garbage\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	again := resolveGenerated(t, dir, up.URL, cache)
	if again.Stats.ZipsHashed != 1 || again.Stats.ZipHashesCached != o.Modules-1 {
		t.Errorf("after damage: %d zips hashed, %d from cache; want 1, %d", again.Stats.ZipsHashed, again.Stats.ZipHashesCached, o.Modules-1)
	}
	if data, err := os.ReadFile(rec); err != nil || !validH1(strings.TrimSpace(string(data))) {
		t.Errorf("damaged record not rewritten: %q, %v", data, err)
	}
}

// TestSmallFilesCached checks the in-memory path of .mod and .info
// downloads: the content lands in its content-addressed blob with its key,
// nothing is left in tmp/, and a second Mirrors reads it from the cache
// with no request.
func TestSmallFilesCached(t *testing.T) {
	mod := ftMakeModule(t, "example.com/small", "v1.2.3")
	s := ftNewServer(t, mod)
	cache := t.TempDir()
	ctx := context.Background()
	read := func() ([]byte, Fetched, FetchStats) {
		m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.CacheDir = cache })
		data, f, err := m.ReadFile(ctx, mod.path, mod.version, "mod")
		if err != nil {
			t.Fatal(err)
		}
		return data, f, m.Stats()
	}
	data, f, st := read()
	if !bytes.Equal(data, mod.mod) || st.Requests != 1 || st.CacheHits != 0 {
		t.Fatalf("first read: %q, %+v; want the go.mod from one request", data, st)
	}
	sum := sha256.Sum256(mod.mod)
	if f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(mod.mod)) {
		t.Errorf("Fetched = %+v, want sha256 %x, size %d", f, sum, len(mod.mod))
	}
	// Its content is a record of small.log, not a blob file of its own.
	if recs, err := applog.Read(filepath.Join(cache, "small.log")); err != nil || !bytes.Equal(recs[f.SHA256], mod.mod) || f.File != "" {
		t.Errorf("small.log record %s: %q, %v (file %q)", f.SHA256, recs[f.SHA256], err, f.File)
	}
	if blobs, _ := filepath.Glob(filepath.Join(cache, "blobs", "sha256", "*", "*")); len(blobs) != 0 {
		t.Errorf("blob files %v, want none", blobs)
	}
	if left, _ := os.ReadDir(filepath.Join(cache, "tmp")); len(left) != 0 {
		t.Errorf("tmp/ holds %d files after the download", len(left))
	}
	// Its key is a line of keys.log, not a file of its own.
	if keys, _ := filepath.Glob(filepath.Join(cache, "keys", "*", "*", "@v", "*")); len(keys) != 0 {
		t.Errorf("key files %v, want none", keys)
	}
	if log, err := os.ReadFile(filepath.Join(cache, "keys.log")); err != nil || !bytes.Contains(log, []byte(`"k":"example.com/small@v1.2.3.mod"`)) {
		t.Errorf("keys.log = %q, %v; want the .mod's key", log, err)
	}
	data2, f2, st2 := read()
	if !bytes.Equal(data2, mod.mod) || f2 != f || st2.Requests != 0 || st2.CacheHits != 1 {
		t.Errorf("second read: %q, %+v, %+v; want the same file from the cache", data2, f2, st2)
	}

	// Forget logs the key's removal: the next Mirrors fetches it again.
	m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.CacheDir = cache })
	if err := m.Forget(ctx, mod.path, mod.version, "mod"); err != nil {
		t.Fatal(err)
	}
	if _, _, st3 := read(); st3.Requests != 1 || st3.CacheHits != 0 {
		t.Errorf("read after Forget: %+v, want one request", st3)
	}
}

// TestResolveHooks checks the hooks a bundle writer uses: HashZip's hash is
// the one verified (a wrong one fails against go.sum), Graph comes once,
// before any Zip, with every module version and the zips to come, and Zip
// once per verified zip.
func TestResolveHooks(t *testing.T) {
	o := fixtures.GenOptions{Modules: 12, Versions: 2, Seed: 3}
	dir, _, up := generatedProject(t, o)
	in, err := ParseInput(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	run := func(hash func(module.Version, Fetched) (string, error)) (*Result, []Module, []module.Version, []Module, error) {
		m, err := NewMirrors(MirrorConfig{Proxy: up.URL, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu     sync.Mutex
			graphs int
			gmods  []Module
			gzips  []module.Version
			zips   []Module
		)
		res, err := Resolve(context.Background(), Config{Inputs: []Input{in}, Mirrors: m,
			HashZip: func(ctx context.Context, m module.Version, f Fetched) (string, error) { return hash(m, f) },
			Graph: func(ctx context.Context, mods []Module, z []module.Version) error {
				mu.Lock()
				defer mu.Unlock()
				graphs++
				if len(zips) != 0 {
					t.Error("Zip called before Graph")
				}
				gmods, gzips = mods, z
				return nil
			},
			Zip: func(ctx context.Context, m Module) error {
				mu.Lock()
				defer mu.Unlock()
				if graphs != 1 {
					t.Errorf("Zip of %s@%s after %d Graph calls", m.Path, m.Version, graphs)
				}
				zips = append(zips, m)
				return nil
			},
		})
		return res, gmods, gzips, zips, err
	}

	var hashed atomic.Int64
	res, gmods, gzips, zips, err := run(func(m module.Version, f Fetched) (string, error) {
		hashed.Add(1)
		return hashZip(m, f.File)
	})
	if err != nil {
		t.Fatal(err)
	}
	if hashed.Load() < int64(res.Stats.Zips) || res.Stats.Zips != o.Modules {
		t.Fatalf("HashZip called %d times for %d zips (want %d zips)", hashed.Load(), res.Stats.Zips, o.Modules)
	}
	if len(gmods) != len(res.Modules) || len(gzips) != res.Stats.Zips || len(zips) != res.Stats.Zips {
		t.Fatalf("Graph saw %d modules and %d zips, Zip %d calls; the result has %d modules, %d zips",
			len(gmods), len(gzips), len(zips), len(res.Modules), res.Stats.Zips)
	}
	for i, m := range gmods {
		r := res.Modules[i]
		if m.Path != r.Path || m.Version != r.Version || !bytes.Equal(m.Mod, r.Mod) || !bytes.Equal(m.Info, r.Info) || m.Zip != nil {
			t.Fatalf("Graph module %d is %s@%s, the result's %s@%s (or differs)", i, m.Path, m.Version, r.Path, r.Version)
		}
	}
	for _, z := range zips {
		if z.Zip == nil || z.ZipHash == "" || z.Mod == nil {
			t.Fatalf("Zip of %s@%s without its files", z.Path, z.Version)
		}
	}

	// A hasher that gets a zip wrong is caught by go.sum.
	_, _, _, _, err = run(func(m module.Version, f Fetched) (string, error) {
		return "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", nil
	})
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("a wrong HashZip hash: got %v, want a ChecksumError", err)
	}
}
