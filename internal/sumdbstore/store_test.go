package sumdbstore

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// dbSource is a [Source] over a fake database, read in memory.
type dbSource struct{ db *fakesumdb.DB }

func (s *dbSource) Name() string { return s.db.Name() }
func (s *dbSource) Key() string  { return s.db.VerifierKey() }
func (s *dbSource) Latest() ([]byte, error) {
	return s.db.Signed(context.Background())
}

func (s *dbSource) Lookup(ctx context.Context, path, version string) ([]byte, error) {
	return s.db.LookupAnswer(ctx, path, version)
}

func (s *dbSource) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	return s.db.ReadTiles(ctx, tiles)
}

// setup returns a lazy database over a generated set of 200×2 module
// versions and those module versions with their hashes.
func setup(t *testing.T) (*dbSource, []Module, map[module.Version]Module) {
	t.Helper()
	set := fixtures.Generate(fixtures.GenOptions{Modules: 200, Versions: 2, Seed: 5})
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sumdb.test", Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	var mods []Module
	byMV := map[module.Version]Module{}
	for _, m := range set.Modules() {
		zh, err := m.ZipHash()
		if err != nil {
			t.Fatal(err)
		}
		mh, err := m.ModHash()
		if err != nil {
			t.Fatal(err)
		}
		mm := Module{Path: m.Path, Version: m.Version, ModHash: mh, ZipHash: zh}
		mods = append(mods, mm)
		byMV[m.ModuleVersion()] = mm
	}
	return &dbSource{db: db}, mods, byMV
}

// writeStore writes d into a bundle file (extras only) and loads it back.
func writeStore(t *testing.T, d *Data, keys map[string]string) (*Store, *bundle.Reader) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	w, err := bundle.NewWriter(bundle.WriterOptions{Tool: "test", TempDir: dir, Properties: d.Properties()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := d.AddTo(ctx, w, "test"); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "b.gobundle")
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	s, err := Load(ctx, r, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

func lookupFunc(byMV map[module.Version]Module) func(path, version string) (bundle.Module, bool) {
	return func(path, version string) (bundle.Module, bool) {
		m, ok := byMV[module.Version{Path: path, Version: version}]
		return bundle.Module{Path: m.Path, Version: m.Version, ModHash: m.ModHash, ZipHash: m.ZipHash}, ok
	}
}

func TestCollectLoadVerify(t *testing.T) {
	ctx := context.Background()
	src, mods, byMV := setup(t)
	// Look up everything first so that the tree spans two level-0 tiles
	// and a level-1 tile.
	for _, m := range mods {
		if _, err := src.Lookup(ctx, m.Path, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	skipped := mods[0].Path
	d, err := Collect(ctx, CollectConfig{Source: src, Modules: mods, Skip: func(p string) bool { return p == skipped }})
	if err != nil {
		t.Fatal(err)
	}
	if d.Latest.Tree.N != 400 || d.Stats.Skipped != 2 || d.Stats.Records != 398 {
		t.Fatalf("tree %d, %d records, %d skipped; want 400, 398, 2", d.Latest.Tree.N, d.Stats.Records, d.Stats.Skipped)
	}
	// Tree of 400 records: 0/000 (full), 0/001.p/144, 1/000.p/1.
	var paths []string
	for _, tl := range d.Tiles.List() {
		paths = append(paths, tl.Path())
	}
	if got, want := strings.Join(paths, " "), "tile/8/0/000 tile/8/0/001.p/144 tile/8/1/000.p/1"; got != want {
		t.Fatalf("tiles %s, want %s", got, want)
	}

	s, r := writeStore(t, d, map[string]string{src.Name(): src.Key()})
	if len(s.Records) != 398 || s.Latest.Tree != d.Latest.Tree || s.Tiles.Len() != 3 {
		t.Fatalf("loaded %d records, tree %v, %d tiles", len(s.Records), s.Latest.Tree, s.Tiles.Len())
	}
	if p := Verify(ctx, s, lookupFunc(byMV)); len(p) != 0 {
		t.Fatalf("Verify: %v", p)
	}
	if got := Property(r.Meta(), PropTree); got != "400" {
		t.Fatalf("property %s = %q", PropTree, got)
	}

	// A bundle module whose hash differs from its record.
	bad := map[module.Version]Module{}
	for k, v := range byMV {
		bad[k] = v
	}
	victim := s.Records[7]
	mv := module.Version{Path: victim.Path, Version: victim.Version}
	m := bad[mv]
	m.ZipHash = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	bad[mv] = m
	p := Verify(ctx, s, lookupFunc(bad))
	if len(p) != 1 || !strings.Contains(p[0].Entry, "/record/"+victim.Path+"@"+victim.Version) {
		t.Fatalf("Verify with a wrong bundle hash: %v", p)
	}
	var re *RecordError
	if !errors.As(p[0].Err, &re) || re.Want != m.ZipHash {
		t.Fatalf("Verify: %v, want a RecordError", p[0].Err)
	}

	// Loading with another database's key fails on the signature.
	other, err := fakesumdb.New(fixtures.NewSet(), fakesumdb.Options{Name: "sumdb.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, r, map[string]string{"sumdb.test": other.VerifierKey()}); err == nil {
		t.Fatal("Load with another key: no error")
	}
}

func TestCollectRefusesWrongHash(t *testing.T) {
	ctx := context.Background()
	src, mods, _ := setup(t)
	mods[3].ModHash = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	_, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:10]})
	var re *RecordError
	if !errors.As(err, &re) || re.Version != mods[3].Version+"/go.mod" {
		t.Fatalf("Collect: %v, want a RecordError for %s@%s/go.mod", err, mods[3].Path, mods[3].Version)
	}
}

func TestProveRecordsNamesUnproven(t *testing.T) {
	ctx := context.Background()
	src, mods, _ := setup(t)
	d, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:20]})
	if err != nil {
		t.Fatal(err)
	}
	recs := append([]Record(nil), d.Records...)
	recs[4].Text = []byte(strings.Replace(string(recs[4].Text), "h1:", "h1:X", 1))
	errs := ProveRecords(d.Latest, recs, d.Tiles)
	for i, err := range errs {
		if (err != nil) != (i == 4) {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	// Without tiles nothing is proven, and the errors say which tile.
	errs = ProveRecords(d.Latest, d.Records[:1], NewTileSet())
	if errs[0] == nil || !errors.Is(errs[0], fs.ErrNotExist) {
		t.Fatalf("no tiles: %v", errs[0])
	}
}

// TestBaseAndUnion: bundle 1 proven in tree N1; the log grows past a tile
// boundary; bundle 2 made with base bundle 1 proves tree N1 and bundle 1's
// records in tree N2, so the union answers every lookup with N2.
func TestBaseAndUnion(t *testing.T) {
	ctx := context.Background()
	src, mods, _ := setup(t)
	d1, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:30]})
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := writeStore(t, d1, nil)
	if s1.Latest.Tree.N != 30 {
		t.Fatalf("tree 1 has %d records", s1.Latest.Tree.N)
	}
	d2, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[300:], Bases: []*Store{s1}})
	if err != nil {
		t.Fatal(err)
	}
	// The lazy log got bundle 2's 100 records after bundle 1's 30.
	if d2.Latest.Tree.N != 130 {
		t.Fatalf("tree 2 has %d records", d2.Latest.Tree.N)
	}
	s2, _ := writeStore(t, d2, nil)
	if len(s2.Older) != 1 || s2.Older[0].Tree.N != 30 {
		t.Fatalf("older trees %v", s2.Older)
	}
	if err := ProveTree(s2.Latest, s1.Latest, s2.Tiles); err != nil {
		t.Fatal(err)
	}
	// Bundle 1's records are provable in tree 2 with bundle 2's tiles alone.
	for i, err := range ProveRecords(s2.Latest, s1.Records, s2.Tiles) {
		if err != nil {
			t.Fatalf("record %d of bundle 1 in tree 2: %v", i, err)
		}
	}

	u, err := NewUnion([]*Store{s1, s2}, []string{"b1", "b2"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Newest.Tree.N != 130 || u.Records != 130 || u.Behind != 0 || len(u.Unproven) != 0 || len(u.Inconsistent) != 0 ||
		len(u.Consistent) != 1 || u.Consistent[0] != 30 {
		t.Fatalf("union: newest %d, %d records, %d behind, unproven %v, consistent %v, inconsistent %v",
			u.Newest.Tree.N, u.Records, u.Behind, u.Unproven, u.Consistent, u.Inconsistent)
	}
	rel, _ := LookupPath(s1.Records[0].Path, s1.Records[0].Version)
	ans, ok := u.Lookup(strings.TrimPrefix(rel, "lookup/"))
	if !ok {
		t.Fatalf("no answer for %s", rel)
	}
	id, text, head, err := tlog.ParseRecord(ans)
	if err != nil || id != s1.Records[0].ID || string(text) != string(s1.Records[0].Text) || string(head) != string(s2.Latest.Note) {
		t.Fatalf("answer %q (%v)", ans, err)
	}
	// Partial tiles are cut from wider ones.
	full, ok := u.Tile("tile/8/0/000.p/130")
	if !ok || len(full) != 130*32 {
		t.Fatalf("tile 0/000.p/130: %d bytes, %v", len(full), ok)
	}
	part, ok := u.Tile("tile/8/0/000.p/30")
	if !ok || string(part) != string(full[:30*32]) {
		t.Fatalf("tile 0/000.p/30 is not the prefix of 0/000.p/130")
	}
	if _, ok := u.Tile("tile/8/0/000"); ok {
		t.Fatal("full tile 0/000 served from a partial one")
	}

	// Bundle 2 without base: serving both, bundle 1's tree is still proven
	// where the tiles allow it; the union says what clients get.
	d3, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[200:210]})
	if err != nil {
		t.Fatal(err)
	}
	s3, _ := writeStore(t, d3, nil)
	u3, err := NewUnion([]*Store{s1, s3}, []string{"b1", "b3"})
	if err != nil {
		t.Fatal(err)
	}
	if u3.Newest.Tree.N != 140 || u3.Records != 40 {
		t.Fatalf("union 3: newest %d, %d records", u3.Newest.Tree.N, u3.Records)
	}
	if len(u3.Consistent)+len(u3.Inconsistent) != 1 {
		t.Fatalf("union 3: consistent %v, inconsistent %v", u3.Consistent, u3.Inconsistent)
	}
}

func TestUnionConflicts(t *testing.T) {
	ctx := context.Background()
	src, mods, _ := setup(t)
	d, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:5]})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := writeStore(t, d, nil)
	changed := *s
	changed.Records = append([]Record(nil), s.Records...)
	changed.Records[0].Text = []byte(strings.Replace(string(changed.Records[0].Text), "h1:", "h1:X", 1))
	if _, err := NewUnion([]*Store{s, &changed}, []string{"one", "two"}); err == nil || !strings.Contains(err.Error(), "differs between one and two") {
		t.Fatalf("different records: %v", err)
	}
}

func TestTileSet(t *testing.T) {
	ts := NewTileSet()
	data := make([]byte, 10*32)
	for i := range data {
		data[i] = byte(i)
	}
	if err := ts.Add(tlog.Tile{H: 8, L: 0, N: 2, W: 10}, data); err != nil {
		t.Fatal(err)
	}
	// A narrower copy that agrees is absorbed; one that disagrees is refused.
	if err := ts.Add(tlog.Tile{H: 8, L: 0, N: 2, W: 4}, data[:4*32]); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), data[:4*32]...)
	bad[5] ^= 1
	var tce *TileConflictError
	if err := ts.Add(tlog.Tile{H: 8, L: 0, N: 2, W: 4}, bad); !errors.As(err, &tce) {
		t.Fatalf("conflicting tile: %v", err)
	}
	if err := ts.Add(tlog.Tile{H: 8, L: 0, N: 3, W: 4}, data[:3*32]); err == nil {
		t.Fatal("short tile accepted")
	}
	if got, ok := ts.Get(tlog.Tile{H: 8, L: 0, N: 2, W: 3}); !ok || string(got) != string(data[:96]) {
		t.Fatal("cut tile wrong")
	}
	if _, ok := ts.Get(tlog.Tile{H: 8, L: 0, N: 2, W: 11}); ok {
		t.Fatal("wider tile than held served")
	}
	if _, err := ts.ReadTiles([]tlog.Tile{{H: 8, L: 1, N: 0, W: 1}}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing tile: %v", err)
	}
}

// TestBaseNeeded: when the log grew by records no bundle holds, a newer
// bundle made without base cannot prove the older tree, and serving both
// reports it; made with base, it can.
func TestBaseNeeded(t *testing.T) {
	ctx := context.Background()
	set := fixtures.Generate(fixtures.GenOptions{Modules: 350, Versions: 2, Seed: 11})
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sumdb.test", Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	src := &dbSource{db: db}
	var mods []Module
	for _, m := range set.Modules() {
		mh, err := m.ModHash()
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, Module{Path: m.Path, Version: m.Version, ModHash: mh})
	}
	d1, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:300]})
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := writeStore(t, d1, nil)
	// Records 300..519 of module versions no bundle holds.
	for _, m := range mods[300:520] {
		if _, err := src.Lookup(ctx, m.Path, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	d3, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[520:600]})
	if err != nil {
		t.Fatal(err)
	}
	s3, _ := writeStore(t, d3, nil)
	u, err := NewUnion([]*Store{s1, s3}, []string{"b1", "b3"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Newest.Tree.N != 600 || len(u.Inconsistent) != 1 || u.Inconsistent[0].N != 300 || u.Inconsistent[0].Bundle != "b1" {
		t.Fatalf("without base: newest %d, inconsistent %v", u.Newest.Tree.N, u.Inconsistent)
	}
	// Bundle 1's records 0..255 are proven in tree 600 with bundle 1's
	// full tile 0/000 and bundle 3's level-1 tile; 256..299 would need the
	// full tile 0/001, which neither holds: they are answered with tree 300.
	if u.Behind != 44 {
		t.Fatalf("without base: %d records behind, want 44", u.Behind)
	}

	d4, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[520:600], Bases: []*Store{s1}})
	if err != nil {
		t.Fatal(err)
	}
	s4, _ := writeStore(t, d4, nil)
	u, err = NewUnion([]*Store{s1, s4}, []string{"b1", "b4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Inconsistent) != 0 || len(u.Consistent) != 1 || u.Behind != 0 || len(u.Unproven) != 0 {
		t.Fatalf("with base: consistent %v, inconsistent %v, %d behind, unproven %v", u.Consistent, u.Inconsistent, u.Behind, u.Unproven)
	}
	if s4.Tiles.Len() <= s3.Tiles.Len() {
		t.Fatalf("with base %d tiles, without %d: the base proofs added none", s4.Tiles.Len(), s3.Tiles.Len())
	}
}

// TestUnionKeepsTilesOnce: after NewUnion the stores' tiles are slices of
// the union's (the widest of each), so twenty bundles of one database
// keep each tile once instead of once per bundle plus once in the union;
// and Load reads a bundle's entries in one pass without filling the
// bundle's frame cache (which serve shares among bundles for zips).
func TestUnionKeepsTilesOnce(t *testing.T) {
	ctx := context.Background()
	src, mods, _ := setup(t)
	d1, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:30]})
	if err != nil {
		t.Fatal(err)
	}
	s1, r1 := writeStore(t, d1, nil)
	if used := r1.Cache().Used(); used != 0 {
		t.Errorf("Load left %d bytes of frames in the frame cache, want none", used)
	}
	d2, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[300:], Bases: []*Store{s1}})
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := writeStore(t, d2, nil)
	u, err := NewUnion([]*Store{s1, s2}, []string{"b1", "b2"})
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	for _, s := range []*Store{s1, s2} {
		for k, data := range s.Tiles.tiles {
			ud := u.tiles.tiles[k]
			if &ud[0] != &data[0] {
				t.Errorf("tile %v of a store is a copy of the union's, not a slice of it", k)
			}
			shared++
		}
	}
	if shared == 0 {
		t.Fatal("no tiles")
	}
	// Still served and proven from the shared bytes.
	if part, ok := u.Tile("tile/8/0/000.p/30"); !ok || len(part) != 30*32 {
		t.Fatalf("tile 0/000.p/30: %d bytes, %v", len(part), ok)
	}
	for i, err := range ProveRecords(s1.Latest, s1.Records, s1.Tiles) {
		if err != nil {
			t.Fatalf("record %d of bundle 1 after sharing: %v", i, err)
		}
	}
}
