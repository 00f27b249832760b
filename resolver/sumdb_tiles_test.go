package resolver

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// TestSumDBReadTiles reads tiles through a mirror's /sumdb/ path: a
// partial tile the mirror no longer has comes from the full one, cut; a
// tile beyond the log is a not-exist error naming it.
func TestSumDBReadTiles(t *testing.T) {
	set := fixtures.Generate(fixtures.GenOptions{Modules: 150, Versions: 2, Seed: 2})
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sum.tiles.example"})
	if err != nil {
		t.Fatal(err)
	}
	p := fakeproxy.Start(set, 1)
	defer p.Close()
	p.MountSumDB(db.Name(), db.Handler())
	if err := p.AddFault(fakeproxy.Fault{Kind: fakeproxy.NotFound, Pattern: "/sumdb/*/tile/8/0/000.p/*"}); err != nil {
		t.Fatal(err)
	}
	sdb, err := NewSumDB(SumDBConfig{GOSUMDB: db.VerifierKey(), CacheDir: t.TempDir()}, ftMirrors(t, p.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	if sdb.Key() != db.VerifierKey() {
		t.Fatalf("Key() = %q", sdb.Key())
	}
	ctx := context.Background()
	tiles := []tlog.Tile{{H: 8, L: 0, N: 0, W: 10}, {H: 8, L: 0, N: 1, W: 44}, {H: 8, L: 1, N: 0, W: 1}}
	data, err := sdb.ReadTiles(ctx, tiles)
	if err != nil {
		t.Fatal(err)
	}
	for i, tl := range tiles {
		want, err := db.ReadTileData(ctx, tl)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data[i], want) {
			t.Errorf("tile %s: wrong data (%d bytes)", tl.Path(), len(data[i]))
		}
	}
	if p.Count("/sumdb/*/tile/8/0/000") != 1 {
		t.Errorf("full tile 0/000 fetched %d times, want 1 (the fallback)", p.Count("/sumdb/*/tile/8/0/000"))
	}
	if _, ok := sdb.RecordedTiles()["tile/8/0/000.p/10"]; !ok {
		t.Errorf("tile 0/000.p/10 not recorded: %v", sdb.RecordedTiles())
	}
	_, err = sdb.ReadTiles(ctx, []tlog.Tile{{H: 8, L: 2, N: 0, W: 1}})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tile beyond the log: %v, want not-exist", err)
	}
	if sdb.Skips("example.com/x") {
		t.Fatal("Skips without GONOSUMDB")
	}
	priv, err := NewSumDB(SumDBConfig{GOSUMDB: db.VerifierKey(), CacheDir: t.TempDir(), Private: "example.com/private"}, ftMirrors(t, p.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer priv.Close()
	if !priv.Skips("example.com/private/x") || priv.Skips("example.com/x") {
		t.Fatal("Skips does not follow GOPRIVATE")
	}
}

// TestSumDBTilesFromCache: the tiles a lookup cached are read back by the
// next process's ReadTiles without a request (a warm create fetches
// nothing).
func TestSumDBTilesFromCache(t *testing.T) {
	set := fixtures.Generate(fixtures.GenOptions{Modules: 40, Versions: 2, Seed: 5})
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sum.cached.example"})
	if err != nil {
		t.Fatal(err)
	}
	p := fakeproxy.Start(set, 1)
	defer p.Close()
	p.MountSumDB(db.Name(), db.Handler())
	cache := t.TempDir()
	ctx := context.Background()
	var tiles []tlog.Tile
	for run := range 2 {
		sdb, err := NewSumDB(SumDBConfig{GOSUMDB: db.VerifierKey(), CacheDir: cache}, ftMirrors(t, p.URL))
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			m, _ := set.Lookup(set.Paths()[3], set.Versions(set.Paths()[3])[0])
			h, err := m.ModHash()
			if err != nil {
				t.Fatal(err)
			}
			if err := sdb.Check(ctx, m.Path, m.Version, true, h); err != nil {
				t.Fatal(err)
			}
			for name := range sdb.RecordedTiles() {
				tl, err := tlog.ParseTilePath(name)
				if err != nil {
					t.Fatal(err)
				}
				tiles = append(tiles, tl)
			}
			if len(tiles) == 0 {
				t.Fatal("the lookup read no tiles")
			}
		}
		before := p.Count("/sumdb/*/tile/*")
		if _, err := sdb.ReadTiles(ctx, tiles); err != nil {
			t.Fatal(err)
		}
		if got := p.Count("/sumdb/*/tile/*") - before; got != 0 {
			t.Errorf("run %d: ReadTiles of %d cached tiles made %d requests", run, len(tiles), got)
		}
		sdb.Close()
	}
}

// TestReadURLKeepsNoSlack: what readURL returns is kept by its callers (the
// checksum database client keeps every tile it read, 11,000 on a union of
// large projects), so it must not carry the spare capacity of the buffer
// it was read into, which doubled as it grew (a partial tile of 5,024
// bytes held 8 KiB; full tiles read from this machine's upstream, twice
// their size).
func TestReadURLKeepsNoSlack(t *testing.T) {
	body := bytes.Repeat([]byte{7}, 157*tlog.HashSize) // a partial tile
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	}))
	defer srv.Close()
	m := ftMirrors(t, srv.URL)
	u, err := url.Parse(srv.URL + "/sumdb/x/tile/8/0/000")
	if err != nil {
		t.Fatal(err)
	}
	data, err := m.readURL(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, body) {
		t.Fatalf("read %d bytes, want the %d served", len(data), len(body))
	}
	if cap(data) > len(data)+len(data)/8 {
		t.Fatalf("%d bytes held in a slice of capacity %d", len(data), cap(data))
	}
}
