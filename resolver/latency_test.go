package resolver

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/gobundle/gobundle/internal/testkit/latencymirror"
)

// TestResolveRoundTripsAtADistance resolves a generated graph, checksum
// database included, through a latency mirror and counts its sequential
// round trips (latencymirror's rounds, not seconds). A module version's
// requirements are asked for once its go.mod is in and checked; its
// lookup is read while the go.mod is on its way (SumDB.Prefetch), so a
// level costs about one round, plus the tiles proving a lookup unless
// already read: here 9 rounds for 6 levels and 160 requests. With the
// lookup read after the go.mod it was 15 to 19 (three rounds a level).
// A step that issued its requests one by one (lookups, tiles, .info
// files or zips each waiting for the previous) would take a round per
// request.
func TestResolveRoundTripsAtADistance(t *testing.T) {
	o := fixtures.GenOptions{Modules: 8, Versions: 6, Seed: 5, ExtraDeps: 1}
	dir, set, _ := generatedProject(t, o)
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sum.latency.example"})
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	up.MountSumDB(db.Name(), db.Handler())
	lm, err := latencymirror.Start(latencymirror.Config{Dir: t.TempDir(), Upstream: up.URL, Delay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	m := ftMirrors(t, lm.URL, func(c *MirrorConfig) { c.Jobs = 64 })
	sdb, err := NewSumDB(SumDBConfig{GOSUMDB: db.VerifierKey(), CacheDir: t.TempDir()}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	in, err := ParseInput(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(context.Background(), Config{Inputs: []Input{in}, Mirrors: m, SumDB: sdb, Jobs: 64})
	if err != nil {
		t.Fatal(err)
	}
	st := lm.Stats()
	levels := graphLevels(t, filepath.Join(dir, "go.mod"), res)
	requests := int64(0)
	for _, n := range st.Kinds {
		requests += n
	}
	t.Logf("%d module versions in %d levels: %s", len(res.Modules), levels, st)
	if st.Kinds["lookup"] != int64(len(res.Modules)) || st.Kinds["mod"] != int64(len(res.Modules)) {
		t.Fatalf("requests %v, want a lookup and a go.mod per module version (%d)", st, len(res.Modules))
	}
	if limit := int64(2*levels + 2); st.Rounds > limit {
		t.Errorf("%d sequential round trips for %d requests over %d levels, want at most %d", st.Rounds, requests, levels, limit)
	}
	if st.MaxInFlight < 8 {
		t.Errorf("at most %d requests in flight, want the independent ones issued together", st.MaxInFlight)
	}
}

// graphLevels returns the number of levels of the graph res holds below
// the main module of goMod: its longest shortest chain of requirements.
func graphLevels(t *testing.T, goMod string, res *Result) int {
	t.Helper()
	parse := func(name string, data []byte) []module.Version {
		f, err := modfile.ParseLax(name, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []module.Version
		for _, r := range f.Require {
			out = append(out, r.Mod)
		}
		return out
	}
	reqs := map[module.Version][]module.Version{}
	for _, rm := range res.Modules {
		reqs[module.Version{Path: rm.Path, Version: rm.Version}] = parse("go.mod", rm.Mod)
	}
	data, err := os.ReadFile(goMod)
	if err != nil {
		t.Fatal(err)
	}
	frontier := parse(goMod, data)
	depth := map[module.Version]int{}
	for _, mv := range frontier {
		depth[mv] = 1
	}
	levels := 0
	for len(frontier) > 0 {
		levels++
		var next []module.Version
		for _, mv := range frontier {
			for _, r := range reqs[mv] {
				if _, seen := depth[r]; !seen {
					depth[r] = depth[mv] + 1
					next = append(next, r)
				}
			}
		}
		frontier = next
	}
	if len(depth) != len(res.Modules) {
		t.Fatalf("%d module versions reached from the main module, %d resolved", len(depth), len(res.Modules))
	}
	return levels
}
