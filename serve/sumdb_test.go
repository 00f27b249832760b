package serve

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// memDB is a sumdbstore.Source over a fake database, in memory.
type memDB struct{ db *fakesumdb.DB }

func (s memDB) Name() string            { return s.db.Name() }
func (s memDB) Key() string             { return s.db.VerifierKey() }
func (s memDB) Latest() ([]byte, error) { return s.db.Signed(context.Background()) }
func (s memDB) Lookup(ctx context.Context, path, version string) ([]byte, error) {
	return s.db.LookupAnswer(ctx, path, version)
}
func (s memDB) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	return s.db.ReadTiles(ctx, tiles)
}

// writeSumDBBundle writes a bundle holding only the checksum database data
// of the first n module versions of set.
func writeSumDBBundle(t *testing.T, name string, db *fakesumdb.DB, set *fixtures.Set, n int) *sumdbstore.Data {
	t.Helper()
	ctx := context.Background()
	var mods []sumdbstore.Module
	for _, m := range set.Modules()[:n] {
		mh, err := m.ModHash()
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, sumdbstore.Module{Path: m.Path, Version: m.Version, ModHash: mh})
	}
	d, err := sumdbstore.Collect(ctx, sumdbstore.CollectConfig{Source: memDB{db}, Modules: mods})
	if err != nil {
		t.Fatal(err)
	}
	w, err := bundle.NewWriter(bundle.WriterOptions{Tool: "serve test", TempDir: t.TempDir(), Level: zstd.SpeedFastest, Properties: d.Properties()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := d.AddTo(ctx, w, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSumDB(t *testing.T) {
	set := fixtures.Generate(fixtures.GenOptions{Modules: 150, Versions: 2, Seed: 9})
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sumdb.test", Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b1 := filepath.Join(dir, "one.gobundle")
	d1 := writeSumDBBundle(t, b1, db, set, 40)
	plain := filepath.Join(dir, "plain.gobundle")
	writeBundle(t, plain, 0, testMod{path: "example.com/m", version: "v1.0.0"})

	// No checksum database data: every /sumdb/ path is a 404, so the go
	// command falls back as with any proxy.
	_, hs, _ := startServer(t, Options{Bundles: []string{plain}})
	resp, body := mustGet(t, "GET", hs.URL+"/sumdb/sumdb.test/supported")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no checksum database data") {
		t.Fatalf("supported without data: %s %q", resp.Status, body)
	}

	s, hs, _ := startServer(t, Options{Bundles: []string{plain, b1}, SumDBKeys: map[string]string{"sumdb.test": db.VerifierKey()}})
	st := s.Stats()
	if len(st.SumDBs) != 1 || st.SumDBs[0].Name != "sumdb.test" || st.SumDBs[0].Tree != 40 || st.SumDBs[0].Records != 40 || st.SumDBs[0].Key != db.VerifierKey() {
		t.Fatalf("stats %+v", st.SumDBs)
	}
	base := hs.URL + "/sumdb/sumdb.test/"
	resp, body = mustGet(t, "GET", base+"supported")
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("supported: %s %q", resp.Status, body)
	}
	resp, body = mustGet(t, "GET", base+"latest")
	if resp.StatusCode != http.StatusOK || string(body) != string(d1.Latest.Note) {
		t.Fatalf("latest: %s %q", resp.Status, body)
	}
	r0 := d1.Records[0]
	rel, _ := sumdbstore.LookupPath(r0.Path, r0.Version)
	resp, body = mustGet(t, "GET", base+rel)
	want, _ := r0.Answer(d1.Latest)
	if resp.StatusCode != http.StatusOK || string(body) != string(want) {
		t.Fatalf("lookup: %s %q", resp.Status, body)
	}
	resp, body = mustGet(t, "GET", base+"lookup/example.com/missing@v1.0.0")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "no record of example.com/missing@v1.0.0 in the loaded bundles") {
		t.Fatalf("missing lookup: %s %q", resp.Status, body)
	}
	resp, body = mustGet(t, "GET", base+"tile/8/0/000.p/40")
	if resp.StatusCode != http.StatusOK || len(body) != 40*32 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("tile: %s, %d bytes", resp.Status, len(body))
	}
	resp, body = mustGet(t, "GET", base+"tile/8/0/000.p/7")
	if resp.StatusCode != http.StatusOK || len(body) != 7*32 {
		t.Fatalf("cut tile: %s, %d bytes", resp.Status, len(body))
	}
	for _, p := range []string{"tile/8/0/000", "tile/8/0/001.p/3", "tile/8/data/000.p/1", "other"} {
		if resp, body := mustGet(t, "GET", base+p); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %s %q", p, resp.Status, body)
		}
	}
	if resp, _ := mustGet(t, "GET", hs.URL+"/sumdb/other.test/supported"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other database: %s", resp.Status)
	}

	// A second, newer bundle of the same database: lookups of the first
	// bundle's records are answered with the newer tree when its tiles
	// prove them, and the first tree is reported.
	b2 := filepath.Join(dir, "two.gobundle")
	d2 := writeSumDBBundle(t, b2, db, set.Select(func(m *fixtures.Module) bool {
		for _, r := range d1.Records {
			if r.Path == m.Path && r.Version == m.Version {
				return false
			}
		}
		return true
	}), 260)
	s2, hs2, _ := startServer(t, Options{Bundles: []string{b1, b2}, SumDBKeys: map[string]string{"sumdb.test": db.VerifierKey()}})
	st2 := s2.Stats().SumDBs[0]
	if st2.Tree != d2.Latest.Tree.N || st2.Records != 300 || len(st2.Consistent) != 1 || st2.Consistent[0] != 40 {
		t.Fatalf("two bundles: %+v", st2)
	}
	resp, body = mustGet(t, "GET", hs2.URL+"/sumdb/sumdb.test/"+rel)
	if _, _, head, err := tlog.ParseRecord(body); resp.StatusCode != http.StatusOK || err != nil || string(head) != string(d2.Latest.Note) {
		t.Fatalf("lookup of bundle 1's record with two bundles: %s %q", resp.Status, body)
	}
}

// TestSumDBUnusableData: a bundle whose checksum database data cannot be
// loaded (here: written without the key property, as early versions did)
// is served without it, with a warning.
func TestSumDBUnusableData(t *testing.T) {
	ctx := context.Background()
	name := filepath.Join(t.TempDir(), "old.gobundle")
	w, err := bundle.NewWriter(bundle.WriterOptions{Tool: "serve test", TempDir: t.TempDir(), Level: zstd.SpeedFastest,
		Properties: []bundle.Property{{Key: "sumdb", Value: "sumdb.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.AddExtra(ctx, bundle.ExtraSource{Kind: "sumdb", Name: "sumdb.test/latest", Data: []byte("go.sum database tree\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— sumdb.test x\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatal(err)
	}
	s, hs, logs := startServer(t, Options{Bundles: []string{name}, SumDBKeys: map[string]string{"sumdb.test": "sumdb.test+00000000+AQ=="}})
	if len(s.Stats().SumDBs) != 0 {
		t.Fatalf("stats %+v", s.Stats().SumDBs)
	}
	if resp, _ := mustGet(t, "GET", hs.URL+"/sumdb/sumdb.test/supported"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("supported: %s", resp.Status)
	}
	if !strings.Contains(logs.String(), "checksum database data of this bundle refused") {
		t.Fatalf("no warning in the log:\n%s", logs)
	}
}

// Finding 6 of issue 11: a bundle whose checksum database data is signed
// with a key of its own (here: of a forged database of the same name)
// loads without a warning, and serve printed that key for clients to use.
// Now only trusted keys count: such data is refused, logged, counted and
// never advertised, and a bundle beside it with good data is served.
func TestSumDBOwnKeyNotTrusted(t *testing.T) {
	set := fixtures.Generate(fixtures.GenOptions{Modules: 20, Versions: 1, Seed: 3})
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sumdb.test", Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := fakesumdb.New(set, fakesumdb.Options{Name: "sumdb.test", Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	if forged.VerifierKey() == db.VerifierKey() {
		t.Fatal("the forged database has the real key")
	}
	dir := t.TempDir()
	good, evil := filepath.Join(dir, "good.gobundle"), filepath.Join(dir, "evil.gobundle")
	writeSumDBBundle(t, good, db, set, 10)
	writeSumDBBundle(t, evil, forged, set, 10)
	trusted := map[string]string{"sumdb.test": db.VerifierKey()}

	for _, tc := range []struct {
		name    string
		opts    Options
		served  bool
		refused string
	}{
		{"own key, none trusted", Options{Bundles: []string{evil}}, false, "no trusted key for checksum database sumdb.test"},
		{"own key, another trusted", Options{Bundles: []string{evil}, SumDBKeys: trusted}, false, "no verifiable signatures"},
		{"conflicting keys", Options{Bundles: []string{good, evil}, SumDBKeys: trusted}, true, "evil.gobundle"},
		{"conflicting keys, other order", Options{Bundles: []string{evil, good}, SumDBKeys: trusted}, true, "evil.gobundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, hs, logs := startServer(t, tc.opts)
			st := s.Stats().SumDBs
			if tc.served != (len(st) == 1) || (tc.served && st[0].Key != db.VerifierKey()) {
				t.Fatalf("served checksum databases %+v", st)
			}
			for _, d := range st {
				if d.Key == forged.VerifierKey() {
					t.Fatalf("advertises the bundle's own key %s", d.Key)
				}
			}
			want := http.StatusNotFound
			if tc.served {
				want = http.StatusOK
			}
			if resp, _ := mustGet(t, "GET", hs.URL+"/sumdb/sumdb.test/supported"); resp.StatusCode != want {
				t.Fatalf("supported: %s", resp.Status)
			}
			log := logs.String()
			if !strings.Contains(log, "checksum database data of this bundle refused") || !strings.Contains(log, tc.refused) {
				t.Fatalf("refusal not logged (want %q):\n%s", tc.refused, log)
			}
			_, body := mustGet(t, "GET", hs.URL+"/metrics")
			if !strings.Contains(string(body), "gobundle_serve_sumdb_refused_total 1\n") {
				t.Fatalf("refusal not counted:\n%s", body)
			}
		})
	}
}
