package resolver

import (
	"context"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// TestResolveGenerated resolves a generated graph through the kit's fake
// upstream and the real fetch layer: every module version of the full graph
// is bundled, zips only for the build list, every hash matches go.sum.
func TestResolveGenerated(t *testing.T) {
	o := fixtures.GenOptions{Modules: 50, Versions: 4, Seed: 7}
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
	m, err := NewMirrors(MirrorConfig{Proxy: up.URL, CacheDir: t.TempDir()})
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
	st := res.Stats
	if st.Modules != set.Len() || st.Zips != o.Modules || st.Nodes != set.Len() || st.GoSumChecks != set.Len()+o.Modules {
		t.Errorf("stats = %+v, want %d module versions, %d zips, all checked with go.sum", st, set.Len(), o.Modules)
	}
	for _, mod := range res.Modules {
		want, ok := set.Lookup(mod.Path, mod.Version)
		if !ok {
			t.Fatalf("%s@%s: not in the generated set", mod.Path, mod.Version)
		}
		if h, _ := want.ModHash(); h != mod.ModHash || !mod.GoSum {
			t.Errorf("%s@%s: go.mod hash %s, want %s (go.sum matched: %v)", mod.Path, mod.Version, mod.ModHash, h, mod.GoSum)
		}
	}
}
