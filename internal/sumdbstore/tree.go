package sumdbstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrNoHead reports checksum database files of a GOPROXY file tree that
// no signed tree head (sumdb/<name>/latest) comes with, as in a module
// cache: nothing signs them, so they cannot be carried.
var ErrNoHead = errors.New("no signed tree head (latest): nothing signs these files")

// TreeDatabases returns the names of the checksum databases whose files a
// GOPROXY file tree holds (the directories below sumdb/), sorted; none if
// it has no sumdb directory.
func TreeDatabases(fsys fs.FS) ([]string, error) {
	ents, err := fs.ReadDir(fsys, "sumdb")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// ReadTree reads the files of checksum database name in a GOPROXY file
// tree, as [Unpack] writes them: sumdb/<name>/latest (the signed tree
// head, checked with key, a verifier key the caller trusts),
// lookup/<path>@<version> (a record followed by a signed tree head) and
// tile/8/L/N[.p/W]. Every record must be proven in the latest tree by the
// tiles; only the tiles those proofs read are kept. Sizes are bounded as
// [Load] bounds them. Errors name the file (slash path in fsys); a tree
// with files but no latest gives an error wrapping [ErrNoHead].
func ReadTree(ctx context.Context, fsys fs.FS, name, key string) (*Data, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	dir := "sumdb/" + name
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("%s: verifier key %q: %w", dir, key, err)
	}
	if verifier.Name() != name {
		return nil, fmt.Errorf("%s: verifier key is for %s", dir, verifier.Name())
	}
	latestFile := dir + "/latest"
	data, err := readBounded(fsys, latestFile, MaxHeadBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoHead)
	}
	if err != nil {
		return nil, err
	}
	latest, err := OpenHead(data, verifier)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", latestFile, err)
	}
	d := &Data{Name: name, Key: key, Latest: latest, Tiles: NewTileSet()}
	tiles := NewTileSet()
	var files []string // of the records, in d.Records order
	err = fs.WalkDir(fsys, dir, func(file string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if de.IsDir() {
			return nil
		}
		rel := strings.TrimPrefix(file, dir+"/")
		switch {
		case rel == "latest" || rel == "supported":
			return nil
		case strings.HasPrefix(rel, "lookup/"):
			rec, err := readLookup(fsys, file, strings.TrimPrefix(rel, "lookup/"), verifier)
			if err != nil {
				return err
			}
			d.Records = append(d.Records, rec)
			files = append(files, file)
			return nil
		case strings.HasPrefix(rel, "tile/"):
			return readTile(fsys, file, rel, tiles)
		}
		return fmt.Errorf("%s: not a checksum database file (want latest, supported, lookup/M@V or tile/8/L/N)", file)
	})
	if err != nil {
		return nil, err
	}
	if err := d.prove(tiles, files); err != nil {
		return nil, err
	}
	return d, nil
}

// prove proves every record of d in d.Latest from tiles and keeps in
// d.Tiles the tiles the proofs read.
func (d *Data) prove(tiles *TileSet, files []string) error {
	rec := &recordingReader{TileSet: tiles, read: d.Tiles}
	for i, err := range ProveRecords(d.Latest, d.Records, rec) {
		if err != nil {
			return fmt.Errorf("%s: %w", files[i], err)
		}
	}
	if rec.err != nil {
		return rec.err
	}
	slices.SortFunc(d.Records, func(a, b Record) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	d.Stats.Records = len(d.Records)
	d.Stats.Tree = d.Latest.Tree.N
	for _, r := range d.Records {
		msg, err := tlog.FormatRecord(r.ID, r.Text)
		if err != nil {
			return fmt.Errorf("%s@%s: checksum database %s record: %w", r.Path, r.Version, d.Name, err)
		}
		d.Stats.RecordBytes += int64(len(msg))
	}
	for _, t := range d.Tiles.List() {
		d.Stats.Tiles++
		d.Stats.TileBytes += int64(t.W * tlog.HashSize)
	}
	return nil
}

// recordingReader reads tiles from a TileSet and adds those it returned
// to read.
type recordingReader struct {
	*TileSet
	mu   sync.Mutex
	read *TileSet
	err  error
}

func (r *recordingReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data, err := r.TileSet.ReadTiles(tiles)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, t := range tiles {
		if err := r.read.Add(t, data[i]); err != nil && r.err == nil {
			r.err = err
		}
	}
	return data, nil
}

// readLookup reads a lookup answer: a record of at most [MaxRecordBytes]
// followed by a signed tree head of at most [MaxHeadBytes], which must
// verify.
func readLookup(fsys fs.FS, file, name string, verifier note.Verifier) (Record, error) {
	data, err := readBounded(fsys, file, MaxRecordBytes+MaxHeadBytes)
	if err != nil {
		return Record{}, err
	}
	_, _, head, err := tlog.ParseRecord(data)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", file, err)
	}
	msg := data[:len(data)-len(head)]
	if len(msg) > MaxRecordBytes || len(head) > MaxHeadBytes {
		return Record{}, fmt.Errorf("%s: record of %d bytes or tree head of %d bytes, more than %d or %d", file, len(msg), len(head), MaxRecordBytes, MaxHeadBytes)
	}
	rec, err := parseRecordEntry(name, msg)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", file, err)
	}
	if _, err := OpenHead(head, verifier); err != nil {
		return Record{}, fmt.Errorf("%s: %w", file, err)
	}
	return rec, nil
}

// readTile reads a hash tile of height [TileHeight], exactly 32·W bytes.
func readTile(fsys fs.FS, file, rel string, tiles *TileSet) error {
	t, err := tlog.ParseTilePath(rel)
	if err != nil || t.H != TileHeight || t.L < 0 || t.Path() != rel {
		return fmt.Errorf("%s: not a hash tile of height %d", file, TileHeight)
	}
	data, err := readBounded(fsys, file, int64(t.W)*tlog.HashSize)
	if err != nil {
		return err
	}
	if len(data) != t.W*tlog.HashSize {
		return fmt.Errorf("%s: %d bytes, want %d for a tile of width %d", file, len(data), t.W*tlog.HashSize, t.W)
	}
	if err := tiles.Add(t, data); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// readBounded reads a regular file of at most limit bytes.
func readBounded(fsys fs.FS, file string, limit int64) ([]byte, error) {
	f, err := fsys.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", file)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", file, st.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", file, limit)
	}
	return data, nil
}

// ReadTrees reads, with [ReadTree], the checksum database files of a
// GOPROXY file tree whose database keys[name] names a trusted key for. A
// bundle holds one database: files of two signed ones are an error. It
// returns the databases whose files were left out since nothing signs them
// ([ErrNoHead], as in a module cache), and nil data if none is signed.
func ReadTrees(ctx context.Context, fsys fs.FS, keys map[string]string) (*Data, []string, error) {
	names, err := TreeDatabases(fsys)
	if err != nil {
		return nil, nil, err
	}
	var (
		data     *Data
		unsigned []string
	)
	for _, name := range names {
		if err := CheckName(name); err != nil {
			return nil, nil, fmt.Errorf("sumdb/%s: %w", name, err)
		}
		if _, err := fs.Stat(fsys, "sumdb/"+name+"/latest"); errors.Is(err, fs.ErrNotExist) {
			unsigned = append(unsigned, name)
			continue
		}
		key := keys[name]
		if key == "" {
			return nil, nil, fmt.Errorf("sumdb/%s/latest: no trusted key for checksum database %s: pass --sumdb %s+KEY", name, name, name)
		}
		d, err := ReadTree(ctx, fsys, name, key)
		if err != nil {
			return nil, nil, err
		}
		if data != nil {
			return nil, nil, fmt.Errorf("sumdb/%s: a second signed checksum database (sumdb/%s is one); a bundle holds one", name, data.Name)
		}
		data = d
	}
	return data, unsigned, nil
}
