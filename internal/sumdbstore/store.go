// Package sumdbstore keeps a checksum database's signed answers in a
// bundle: the records of the bundle's module versions, ONE signed tree head
// they are all proven against, the tiles of the transparency log that
// prove them, and older tree heads proven consistent with the newest
// (golang.org/x/mod/sumdb/tlog, golang.org/x/mod/sumdb/note).
//
// # Entries
//
// Bundle extras of kind "sumdb", named below the database name (host[/path]):
//
//	<db>/latest                            the signed tree head (note) every record is proven against
//	<db>/record/<esc path>@<esc version>   tlog.FormatRecord(id, text): record id and text, no note
//	<db>/tile/8/<L>/<N>[.p/<W>]            hash tiles, as tlog.Tile.Path names them, widest kept
//	<db>/tree/<N>                          older signed tree heads proven consistent with latest
//
// and bundle properties sumdb.name, sumdb.key (verifier key) and
// sumdb.tree (size of the latest tree).
//
// A lookup answer, as the checksum database protocol serves it at
// /lookup/M@V, is the record followed by a signed tree head; a partial tile
// .p/W is the first 32·W bytes of any wider tile at the same coordinates.
package sumdbstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gobundle/gobundle/bundle"
)

// Kind is the bundle extras kind of checksum database entries.
const Kind = "sumdb"

// TileHeight is the height of the tiles the go command reads.
const TileHeight = 8

// Property keys written to bundle metadata.
const (
	PropName = "sumdb.name"
	PropKey  = "sumdb.key"
	PropTree = "sumdb.tree"
)

// LatestName returns the entry name of db's signed tree head.
func LatestName(db string) string { return db + "/latest" }

// TreeName returns the entry name of an older signed tree head of size n.
func TreeName(db string, n int64) string { return db + "/tree/" + strconv.FormatInt(n, 10) }

// TileName returns the entry name of tile t.
func TileName(db string, t tlog.Tile) string { return db + "/" + t.Path() }

// RecordName returns the entry name of the record of path@version.
func RecordName(db, path, version string) (string, error) {
	rel, err := LookupPath(path, version)
	if err != nil {
		return "", err
	}
	return db + "/record/" + strings.TrimPrefix(rel, "lookup/"), nil
}

// LookupPath returns "lookup/<escaped path>@<escaped version>", the path of
// a lookup below the database URL.
func LookupPath(path, version string) (string, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	ev, err := module.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	return "lookup/" + ep + "@" + ev, nil
}

// Head is a signed tree head.
type Head struct {
	Tree tlog.Tree
	Note []byte // the signed note, as served at /latest and after a record
}

// Record is one record of the log: the go.sum lines of a module version.
type Record struct {
	Path, Version string
	ID            int64
	Text          []byte
}

// Answer returns the lookup answer of r under the tree head h.
func (r Record) Answer(h Head) ([]byte, error) {
	msg, err := tlog.FormatRecord(r.ID, r.Text)
	if err != nil {
		return nil, fmt.Errorf("record %d of %s@%s: %w", r.ID, r.Path, r.Version, err)
	}
	return append(msg, h.Note...), nil
}

// HasLine reports whether the record text lists "path version hash"
// (version ending in /go.mod for a go.mod hash), and returns the hashes
// it lists for that path and version.
func (r Record) HasLine(version, hash string) (bool, []string) {
	var got []string
	for _, line := range strings.Split(string(r.Text), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == r.Path && f[1] == version {
			if f[2] == hash {
				return true, nil
			}
			got = append(got, f[2])
		}
	}
	return false, got
}

// Store is the checksum database data of one database in one bundle.
type Store struct {
	Name    string
	Key     string // verifier key ("name+hash+key")
	Latest  Head
	Older   []Head   // sorted by size
	Records []Record // sorted by path, version
	Tiles   *TileSet

	// Figures, for inspect and the bench.
	RecordBytes, TileBytes, HeadBytes int64
}

// Extras is what Load needs of a bundle reader.
type Extras interface {
	Name() string
	Meta() bundle.Meta
	Extras() []bundle.Extra
	ReadExtra(ctx context.Context, kind, name string) ([]byte, error)
}

// Bounds on the entries of a bundle, checked before they are read: a
// signed tree head is about 200 bytes and a record (two go.sum lines) a
// few hundred, so these leave room for many cosignatures and long paths
// while a crafted bundle cannot make serve hold gigabytes.
const (
	MaxHeadBytes   = 16 << 10
	MaxRecordBytes = 4 << 10
	// MaxOlderTrees bounds the older tree heads (one per --base bundle).
	MaxOlderTrees = 1024
)

// CheckName reports whether db is a checksum database name that can name
// a directory: host[:port][/path], as GOSUMDB names it, of ASCII letters,
// digits and "-._~:", with no empty, "." or ".." element (note.NewVerifier
// accepts "../x").
func CheckName(db string) error {
	bad := func(why string) error { return fmt.Errorf("checksum database name %q: %s", db, why) }
	if len(db) > 255 {
		return bad("too long")
	}
	for _, elem := range strings.Split(db, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return bad("empty, . or .. path element")
		}
		for _, c := range elem {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~:", c)) {
				return bad(fmt.Sprintf("invalid character %q", c))
			}
		}
	}
	return nil
}

// Property returns the value of the metadata property key, "" if absent.
func Property(m bundle.Meta, key string) string {
	for _, p := range m.Properties {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}

// EntryError is a checksum database entry of a bundle that is malformed,
// badly signed or unproven.
type EntryError struct {
	Entry string // "sumdb <name>"
	Err   error
}

func (e *EntryError) Error() string { return e.Entry + ": " + e.Err.Error() }
func (e *EntryError) Unwrap() error { return e.Err }

// extrasReader is a bundle reader that reads many extras in one pass
// (*bundle.Reader does).
type extrasReader interface {
	ReadExtras(ctx context.Context, kind string, max int64, fn func(name string, data []byte) error) error
}

// prefetch reads the entries of r no larger than MaxHeadBytes in one
// pass when r can (nil otherwise): read one by one, thousands of tiles
// and records would each go through the bundle's frame cache, pushing out
// the frames clients need.
func prefetch(ctx context.Context, r Extras) (map[string][]byte, error) {
	er, ok := r.(extrasReader)
	if !ok {
		return nil, nil
	}
	pre := map[string][]byte{}
	err := er.ReadExtras(ctx, Kind, MaxHeadBytes, func(name string, data []byte) error {
		pre[name] = bytes.Clone(data)
		return nil
	})
	return pre, err
}

// Load reads the checksum database entries of a bundle. Tree heads are
// checked against keys[name] when given (the key a caller trusts, such as
// the go command's built-in one), else against the bundle's own sumdb.key
// property. A bundle without such entries gives nil, nil.
func Load(ctx context.Context, r Extras, keys map[string]string) (*Store, error) {
	var names []string
	sizes := map[string]int64{}
	for _, x := range r.Extras() {
		if x.Kind == Kind {
			names = append(names, x.Name)
			sizes[x.Name] = x.Size
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	meta := r.Meta()
	db := Property(meta, PropName)
	if db == "" {
		// Bundles of earlier versions: the name of the latest entry.
		for _, n := range names {
			if d, ok := strings.CutSuffix(n, "/latest"); ok {
				db = d
				break
			}
		}
	}
	if db == "" {
		return nil, &EntryError{Entry: "sumdb", Err: fmt.Errorf("entries but no %s property and no latest entry: %w", PropName, bundle.ErrCorrupt)}
	}
	if err := CheckName(db); err != nil {
		return nil, &EntryError{Entry: "sumdb", Err: fmt.Errorf("%v: %w", err, bundle.ErrCorrupt)}
	}
	key := keys[db]
	if key == "" {
		key = Property(meta, PropKey)
	}
	if key == "" {
		return nil, &EntryError{Entry: "sumdb " + db, Err: errors.New("no verifier key known for this database (no sumdb.key property): pass name+key")}
	}
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return nil, &EntryError{Entry: "sumdb " + db, Err: fmt.Errorf("verifier key %q: %w", key, err)}
	}
	if verifier.Name() != db {
		return nil, &EntryError{Entry: "sumdb " + db, Err: fmt.Errorf("verifier key is for %s", verifier.Name())}
	}
	s := &Store{Name: db, Key: key, Tiles: NewTileSet()}
	pre, err := prefetch(ctx, r)
	if err != nil {
		return nil, &EntryError{Entry: "sumdb", Err: err}
	}
	read := func(name string, limit int64) ([]byte, error) {
		if sizes[name] > limit {
			return nil, &EntryError{Entry: "sumdb " + name, Err: fmt.Errorf("%d bytes, more than %d: %w", sizes[name], limit, bundle.ErrCorrupt)}
		}
		if data, ok := pre[name]; ok {
			return data, nil
		}
		data, err := r.ReadExtra(ctx, Kind, name)
		if err != nil {
			return nil, &EntryError{Entry: "sumdb " + name, Err: err}
		}
		return data, nil
	}
	prefix := db + "/"
	haveLatest := false
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rel, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue // another database's entries: not written by create
		}
		bad := func(err error) error { return &EntryError{Entry: "sumdb " + name, Err: err} }
		switch {
		case rel == "latest":
			data, err := read(name, MaxHeadBytes)
			if err != nil {
				return nil, err
			}
			h, err := OpenHead(data, verifier)
			if err != nil {
				return nil, bad(err)
			}
			s.Latest, haveLatest = h, true
			s.HeadBytes += int64(len(data))
		case strings.HasPrefix(rel, "tree/"):
			data, err := read(name, MaxHeadBytes)
			if err != nil {
				return nil, err
			}
			h, err := OpenHead(data, verifier)
			if err != nil {
				return nil, bad(err)
			}
			if strconv.FormatInt(h.Tree.N, 10) != strings.TrimPrefix(rel, "tree/") {
				return nil, bad(fmt.Errorf("holds tree %d", h.Tree.N))
			}
			if len(s.Older) == MaxOlderTrees {
				return nil, bad(fmt.Errorf("more than %d older tree heads: %w", MaxOlderTrees, bundle.ErrCorrupt))
			}
			s.Older = append(s.Older, h)
			s.HeadBytes += int64(len(data))
		case strings.HasPrefix(rel, "record/"):
			data, err := read(name, MaxRecordBytes)
			if err != nil {
				return nil, err
			}
			rec, err := parseRecordEntry(strings.TrimPrefix(rel, "record/"), data)
			if err != nil {
				return nil, bad(err)
			}
			s.Records = append(s.Records, rec)
			s.RecordBytes += int64(len(data))
		case strings.HasPrefix(rel, "tile/"):
			t, err := tlog.ParseTilePath(rel)
			if err != nil || t.H != TileHeight || t.L < 0 {
				return nil, bad(fmt.Errorf("not a hash tile of height %d", TileHeight))
			}
			data, err := read(name, int64(t.W)*tlog.HashSize)
			if err != nil {
				return nil, err
			}
			if err := s.Tiles.add(t, data, false); err != nil { // data is a copy of its own
				return nil, bad(err)
			}
			s.TileBytes += int64(len(data))
		}
	}
	if !haveLatest {
		return nil, &EntryError{Entry: "sumdb " + LatestName(db), Err: fmt.Errorf("missing: %w", fs.ErrNotExist)}
	}
	slices.SortFunc(s.Older, func(a, b Head) int { return cmpInt(a.Tree.N, b.Tree.N) })
	slices.SortFunc(s.Records, func(a, b Record) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return s, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseRecordEntry parses a record entry named "<esc path>@<esc version>".
func parseRecordEntry(rel string, data []byte) (Record, error) {
	ep, ev, ok := strings.Cut(rel, "@")
	if !ok {
		return Record{}, errors.New("name is not path@version")
	}
	path, err := module.UnescapePath(ep)
	if err != nil {
		return Record{}, err
	}
	version, err := module.UnescapeVersion(ev)
	if err != nil {
		return Record{}, err
	}
	if err := module.Check(path, version); err != nil {
		return Record{}, err
	}
	id, text, rest, err := tlog.ParseRecord(data)
	if err != nil {
		return Record{}, err
	}
	if len(rest) != 0 {
		return Record{}, errors.New("trailing data after the record")
	}
	return Record{Path: path, Version: version, ID: id, Text: text}, nil
}

// OpenHead checks a signed tree head against verifier and parses it.
func OpenHead(msg []byte, verifier note.Verifier) (Head, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return Head{}, fmt.Errorf("signed tree head: %w", err)
	}
	t, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return Head{}, fmt.Errorf("signed tree head: %w", err)
	}
	return Head{Tree: t, Note: bytes.Clone(msg)}, nil
}

// TileSet holds hash tiles of one log by coordinates, each at the widest
// width seen; a narrower tile at the same coordinates is a prefix of it.
// It is a tlog.TileReader (tiles of height [TileHeight]); SaveTiles does
// nothing.
type TileSet struct {
	tiles map[[2]int64][]byte // (L, N) -> data
}

// NewTileSet returns an empty set.
func NewTileSet() *TileSet { return &TileSet{tiles: make(map[[2]int64][]byte)} }

// TileConflictError reports two tiles at the same coordinates whose common
// prefix differs: one of them is not of this log.
type TileConflictError struct{ Tile tlog.Tile }

func (e *TileConflictError) Error() string {
	return fmt.Sprintf("tile %s differs from another copy of the same tile", e.Tile.Path())
}

// Add adds the data of tile t (a copy: the caller keeps data).
func (ts *TileSet) Add(t tlog.Tile, data []byte) error {
	return ts.add(t, data, true)
}

// add adds tile t, copying data unless the set may keep it (tiles are
// never changed once in a set, so sets can share their bytes).
func (ts *TileSet) add(t tlog.Tile, data []byte, clone bool) error {
	if t.H != TileHeight || t.L < 0 || t.W < 1 || t.W > 1<<TileHeight {
		return fmt.Errorf("tile %s: not a hash tile of height %d", t.Path(), TileHeight)
	}
	if len(data) != t.W*tlog.HashSize {
		return fmt.Errorf("tile %s: %d bytes, want %d: %w", t.Path(), len(data), t.W*tlog.HashSize, bundle.ErrCorrupt)
	}
	k := [2]int64{int64(t.L), t.N}
	old, ok := ts.tiles[k]
	if ok {
		n := min(len(old), len(data))
		if !bytes.Equal(old[:n], data[:n]) {
			return &TileConflictError{Tile: t}
		}
		if len(old) >= len(data) {
			return nil
		}
	}
	if clone {
		data = bytes.Clone(data)
	}
	ts.tiles[k] = data
	return nil
}

// Merge adds every tile of o, sharing o's bytes.
func (ts *TileSet) Merge(o *TileSet) error {
	for _, t := range o.List() {
		if err := ts.add(t, o.tiles[[2]int64{int64(t.L), t.N}], false); err != nil {
			return err
		}
	}
	return nil
}

// shareFrom makes each tile of ts that o holds at least as wide (and equal
// on ts's width) a slice of o's bytes, so that the two sets keep each such
// tile once.
func (ts *TileSet) shareFrom(o *TileSet) {
	for k, data := range ts.tiles {
		if od, ok := o.tiles[k]; ok && len(od) >= len(data) && &od[0] != &data[0] && bytes.Equal(od[:len(data)], data) {
			ts.tiles[k] = od[:len(data):len(data)]
		}
	}
}

// Get returns the data of tile t, cut from a wider tile when needed; ok is
// false when the set holds no tile at t's coordinates at least as wide.
func (ts *TileSet) Get(t tlog.Tile) ([]byte, bool) {
	if t.H != TileHeight || t.L < 0 || t.W < 1 {
		return nil, false
	}
	data, ok := ts.tiles[[2]int64{int64(t.L), t.N}]
	if !ok || len(data) < t.W*tlog.HashSize {
		return nil, false
	}
	return data[:t.W*tlog.HashSize], true
}

// List returns the tiles held, at their widest, sorted by level and number.
func (ts *TileSet) List() []tlog.Tile {
	out := make([]tlog.Tile, 0, len(ts.tiles))
	for k, data := range ts.tiles {
		out = append(out, tlog.Tile{H: TileHeight, L: int(k[0]), N: k[1], W: len(data) / tlog.HashSize})
	}
	slices.SortFunc(out, func(a, b tlog.Tile) int {
		if a.L != b.L {
			return a.L - b.L
		}
		return cmpInt(a.N, b.N)
	})
	return out
}

// Len returns the number of tiles held.
func (ts *TileSet) Len() int { return len(ts.tiles) }

// Height implements tlog.TileReader.
func (ts *TileSet) Height() int { return TileHeight }

// ReadTiles implements tlog.TileReader; a missing tile is an error
// wrapping fs.ErrNotExist.
func (ts *TileSet) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, ok := ts.Get(t)
		if !ok {
			return nil, fmt.Errorf("tile %s: %w", t.Path(), fs.ErrNotExist)
		}
		out[i] = data
	}
	return out, nil
}

// SaveTiles implements tlog.TileReader.
func (ts *TileSet) SaveTiles([]tlog.Tile, [][]byte) {}

// ProveRecords checks that every record is in tree h, reading tiles from
// tr. It returns one error per record that is not (nil entries for those
// that are).
func ProveRecords(h Head, recs []Record, tr tlog.TileReader) []error {
	errs := make([]error, len(recs))
	if len(recs) == 0 {
		return errs
	}
	thr := tlog.TileHashReader(h.Tree, tr)
	idx := make([]int64, 0, len(recs))
	for _, r := range recs {
		if r.ID < 0 || r.ID >= h.Tree.N {
			idx = nil
			break
		}
		idx = append(idx, tlog.StoredHashIndex(0, r.ID))
	}
	if idx != nil {
		if hashes, err := thr.ReadHashes(idx); err == nil {
			for i, r := range recs {
				if hashes[i] != tlog.RecordHash(r.Text) {
					errs[i] = fmt.Errorf("record %d of %s@%s is not the one tree %d holds", r.ID, r.Path, r.Version, h.Tree.N)
				}
			}
			return errs
		}
	}
	// One at a time, to name the records that fail.
	for i, r := range recs {
		if r.ID < 0 || r.ID >= h.Tree.N {
			errs[i] = fmt.Errorf("record %d of %s@%s is beyond tree %d", r.ID, r.Path, r.Version, h.Tree.N)
			continue
		}
		hashes, err := thr.ReadHashes([]int64{tlog.StoredHashIndex(0, r.ID)})
		if err != nil {
			errs[i] = fmt.Errorf("proving record %d of %s@%s in tree %d: %w", r.ID, r.Path, r.Version, h.Tree.N, err)
			continue
		}
		if hashes[0] != tlog.RecordHash(r.Text) {
			errs[i] = fmt.Errorf("record %d of %s@%s is not the one tree %d holds", r.ID, r.Path, r.Version, h.Tree.N)
		}
	}
	return errs
}

// ProveTree checks that the older tree head old is contained in tree h,
// reading tiles from tr.
func ProveTree(h, old Head, tr tlog.TileReader) error {
	if old.Tree.N > h.Tree.N {
		return fmt.Errorf("tree %d is newer than tree %d", old.Tree.N, h.Tree.N)
	}
	th, err := tlog.TreeHash(old.Tree.N, tlog.TileHashReader(h.Tree, tr))
	if err != nil {
		return fmt.Errorf("proving tree %d in tree %d: %w", old.Tree.N, h.Tree.N, err)
	}
	if th != old.Tree.Hash {
		return fmt.Errorf("tree %d is not contained in tree %d: the log forked", old.Tree.N, h.Tree.N)
	}
	return nil
}
