package sumdbstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// goneSource is a database that no longer serves partial tiles (as a
// mirror that dropped them): only full ones.
type goneSource struct{ *dbSource }

func (s goneSource) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	for _, t := range tiles {
		if t.W != 1<<t.H {
			return nil, &fs.PathError{Op: "read", Path: t.Path(), Err: fs.ErrNotExist}
		}
	}
	return s.dbSource.ReadTiles(ctx, tiles)
}

// A pinned tree gives the same head, records and tiles after the log grew,
// refuses records added after it, and a database that can no longer serve
// its tiles is a clear error.
func TestCollectPinnedTree(t *testing.T) {
	ctx := context.Background()
	src, mods, _ := setup(t)
	d1, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:30]})
	if err != nil {
		t.Fatal(err)
	}
	if d1.Latest.Tree.N != 30 {
		t.Fatalf("tree %d, want 30", d1.Latest.Tree.N)
	}
	// The log grows by 100 records.
	for _, m := range mods[30:130] {
		if _, err := src.Lookup(ctx, m.Path, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	newest, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:30]})
	if err != nil {
		t.Fatal(err)
	}
	if newest.Latest.Tree.N != 130 {
		t.Fatalf("after growing: tree %d, want 130", newest.Latest.Tree.N)
	}
	d2, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:30], Tree: d1.Latest.Note})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d2.Latest.Note, d1.Latest.Note) || dump(d2) != dump(d1) {
		t.Fatalf("pinned collect differs from the first:\n%s\nvs\n%s", dump(d2), dump(d1))
	}

	_, err = Collect(ctx, CollectConfig{Source: src, Modules: mods[:31], Tree: d1.Latest.Note})
	if err == nil || !strings.Contains(err.Error(), "after the pinned tree 30") {
		t.Fatalf("record newer than the pin: err = %v", err)
	}
	_, err = Collect(ctx, CollectConfig{Source: goneSource{src}, Modules: mods[:30], Tree: d1.Latest.Note})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no longer serves the tiles of the pinned tree 30") {
		t.Fatalf("tiles gone: err = %v", err)
	}
	_, err = Collect(ctx, CollectConfig{Source: src, Modules: mods[:30], Tree: []byte("go.sum database tree\n30\nAAAA\n")})
	if err == nil || !strings.Contains(err.Error(), "pinned tree head") {
		t.Fatalf("unsigned pin: err = %v", err)
	}
}

// dump lists d's records and tiles with their bytes.
func dump(d *Data) string {
	var b strings.Builder
	for _, r := range d.Records {
		fmt.Fprintf(&b, "record %d %s@%s %q\n", r.ID, r.Path, r.Version, r.Text)
	}
	for _, t := range d.Tiles.List() {
		data, _ := d.Tiles.Get(t)
		fmt.Fprintf(&b, "tile %s %x\n", t.Path(), data)
	}
	return b.String()
}
