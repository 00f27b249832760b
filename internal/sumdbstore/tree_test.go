package sumdbstore

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/mod/sumdb/note"
)

// treeFiles writes the store of a collected database as unpack does and
// returns the files, the database's name and key.
func treeFiles(t *testing.T) (fstest.MapFS, *Data, string) {
	t.Helper()
	ctx := context.Background()
	src, mods, _ := setup(t)
	for _, m := range mods {
		if _, err := src.Lookup(ctx, m.Path, m.Version); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Collect(ctx, CollectConfig{Source: src, Modules: mods[:300]})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := writeStore(t, d, map[string]string{src.Name(): src.Key()})
	files := fstest.MapFS{}
	if err := s.Files(ctx, func(rel string, data []byte) error {
		files[rel] = &fstest.MapFile{Data: bytes.Clone(data)}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return files, d, src.Key()
}

func TestReadTreeRoundTrip(t *testing.T) {
	ctx := context.Background()
	files, d, key := treeFiles(t)
	got, unsigned, err := ReadTrees(ctx, files, map[string]string{d.Name: key})
	if err != nil {
		t.Fatal(err)
	}
	if len(unsigned) != 0 || got == nil {
		t.Fatalf("data %v, unsigned %v", got != nil, unsigned)
	}
	if dump(got) != dump(d) || !bytes.Equal(got.Latest.Note, d.Latest.Note) || got.Key != key {
		t.Fatalf("read back differs:\n%s\nwant\n%s", dump(got), dump(d))
	}
	if got.Stats.Records != d.Stats.Records || got.Stats.RecordBytes != d.Stats.RecordBytes || got.Stats.TileBytes != d.Stats.TileBytes || got.Stats.Tiles != d.Stats.Tiles {
		t.Fatalf("stats %+v, want %+v", got.Stats, d.Stats)
	}
}

func TestReadTreeRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	files, d, key := treeFiles(t)
	dir := "sumdb/" + d.Name + "/"
	var lookup, tile string
	for name := range files {
		if lookup == "" && strings.HasPrefix(name, dir+"lookup/") {
			lookup = name
		}
		if strings.HasPrefix(name, dir+"tile/8/0/000") {
			tile = name
		}
	}
	otherKey, _, err := note.GenerateKey(nil, d.Name)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := note.NewSigner(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := note.Sign(&note.Note{Text: "go.sum database tree\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}, otherSigner)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[0] ^= 1; return b }
	for _, tc := range []struct {
		name string
		edit func(fstest.MapFS)
		want string // in the error, after the file's name
		file string
	}{
		{"forged latest", func(f fstest.MapFS) { f[dir+"latest"].Data = forged }, "signed tree head", dir + "latest"},
		{"huge latest", func(f fstest.MapFS) { f[dir+"latest"].Data = make([]byte, MaxHeadBytes+1) }, "more than", dir + "latest"},
		{"tampered tile", func(f fstest.MapFS) { f[tile].Data = flip(f[tile].Data) }, "", dir + "lookup/"},
		{"short tile", func(f fstest.MapFS) { f[tile].Data = f[tile].Data[:100] }, "want", tile},
		{"tile of height 4", func(f fstest.MapFS) { f[dir+"tile/4/0/000"] = &fstest.MapFile{Data: make([]byte, 32*16)} }, "not a hash tile", dir + "tile/4/0/000"},
		{"tampered record", func(f fstest.MapFS) {
			f[lookup].Data = bytes.Replace(f[lookup].Data, []byte(" h1:"), []byte(" h1:A"), 1)
		}, "", lookup},
		{"forged lookup head", func(f fstest.MapFS) {
			i := bytes.Index(f[lookup].Data, []byte("\n\n"))
			f[lookup].Data = append(bytes.Clone(f[lookup].Data[:i+2]), forged...)
		}, "signed tree head", lookup},
		{"huge lookup", func(f fstest.MapFS) { f[lookup].Data = make([]byte, MaxRecordBytes+MaxHeadBytes+1) }, "more than", lookup},
		{"bad lookup name", func(f fstest.MapFS) { f[dir+"lookup/Example.com@v1.0.0"] = files[lookup] }, "", dir + "lookup/Example.com@v1.0.0"},
		{"stray file", func(f fstest.MapFS) { f[dir+"notes.txt"] = &fstest.MapFile{} }, "not a checksum database file", dir + "notes.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fstest.MapFS{}
			for name, mf := range files {
				c := *mf
				f[name] = &c
			}
			tc.edit(f)
			_, err := ReadTree(ctx, f, d.Name, key)
			if err == nil || !strings.HasPrefix(err.Error(), tc.file) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %s...: ...%s", err, tc.file, tc.want)
			}
		})
	}
}

func TestReadTreesUnsignedAndUntrusted(t *testing.T) {
	ctx := context.Background()
	files, d, key := treeFiles(t)

	// A module cache's files: no latest, left out.
	cache := maps.Clone(files)
	delete(cache, "sumdb/"+d.Name+"/latest")
	got, unsigned, err := ReadTrees(ctx, cache, map[string]string{d.Name: key})
	if err != nil || got != nil || len(unsigned) != 1 || unsigned[0] != d.Name {
		t.Fatalf("module cache: data %v, unsigned %v, err %v", got != nil, unsigned, err)
	}
	if _, err := ReadTree(ctx, cache, d.Name, key); !errors.Is(err, ErrNoHead) {
		t.Fatalf("ReadTree without latest: err = %v, want ErrNoHead", err)
	}

	// No key the caller trusts: an error, not a silent drop.
	if _, _, err := ReadTrees(ctx, files, nil); err == nil || !strings.Contains(err.Error(), "no trusted key") {
		t.Fatalf("untrusted: err = %v", err)
	}
	// A key of another database.
	_, vkey, _ := note.GenerateKey(nil, "other.example")
	if _, err := ReadTree(ctx, files, d.Name, vkey); err == nil || !strings.Contains(err.Error(), "verifier key is for other.example") {
		t.Fatalf("wrong key: err = %v", err)
	}
	// A name that would leave the tree.
	if _, err := ReadTree(ctx, files, "..", key); err == nil {
		t.Fatal("ReadTree accepted database name ..")
	}
	// No sumdb directory at all.
	if got, unsigned, err := ReadTrees(ctx, fstest.MapFS{"example.com/@v/list": {}}, nil); err != nil || got != nil || unsigned != nil {
		t.Fatalf("no sumdb: %v %v %v", got, unsigned, err)
	}
}
