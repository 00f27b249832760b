package resolver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

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
	set := fixtures.Generate(o)
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	dir := t.TempDir()
	if err := fixtures.WriteArchive(fixtures.GenProject(o), dir); err != nil {
		t.Fatal(err)
	}
	if err := set.WriteGoSum(dir); err != nil {
		t.Fatal(err)
	}
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
