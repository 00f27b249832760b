package sumdbstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gobundle/gobundle/bundle"
)

// Source is the checksum database as create reads it (resolver.SumDB).
type Source interface {
	Name() string
	Key() string // verifier key
	// Latest returns the newest signed tree head the client has accepted.
	Latest() ([]byte, error)
	// Lookup returns the verified lookup answer of path@version.
	Lookup(ctx context.Context, path, version string) ([]byte, error)
	// ReadTiles reads tiles of the log (unauthenticated: the caller
	// checks them against a tree head).
	ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error)
}

// Module is a module version of the bundle with its go.sum hashes.
type Module struct {
	Path, Version string
	ModHash       string // "/go.mod" hash, "" when the bundle has no go.mod
	ZipHash       string // "" when the bundle has no zip
}

// CollectConfig says what [Collect] proves.
type CollectConfig struct {
	Source  Source
	Modules []Module
	// Skip reports module paths the database is not asked about
	// (GONOSUMDB, GOPRIVATE).
	Skip func(path string) bool
	// Tree, if set, is a signed tree head (from an earlier bundle) to
	// prove every record in instead of the newest the client knows, so
	// that a rebuild stores the same tree head and tiles. It must be
	// consistent with the client's newest tree.
	Tree []byte
	// Bases are the checksum database data of earlier bundles whose
	// clients must keep working: their tree heads are proven consistent
	// with the new tree, and their records proven in it.
	Bases []*Store
}

// Stats are figures about what Collect stored.
type Stats struct {
	Records     int   // module versions with a record
	Skipped     int   // module versions not looked up (Skip)
	Tiles       int   // tiles stored
	TileBytes   int64 // their bytes
	RecordBytes int64
	Tree        int64 // size of the tree every record is proven in
	Older       []int64
}

// Data is what a bundle stores of one checksum database.
type Data struct {
	Name, Key string
	Latest    Head
	Older     []Head
	Records   []Record
	Tiles     *TileSet
	Stats     Stats
}

// RecordError is a record whose text does not list a bundled hash.
type RecordError struct {
	Path, Version string // Version ends in /go.mod for a go.mod hash
	Want          string // the bundle's hash
	Got           []string
	DB            string
}

func (e *RecordError) Error() string {
	got := "no hash"
	if len(e.Got) > 0 {
		got = strings.Join(e.Got, ", ")
	}
	return fmt.Sprintf("%s@%s: checksum database %s record has %s, the bundle has %s", e.Path, e.Version, e.DB, got, e.Want)
}

// CheckRecord checks that rec lists the hashes of m.
func CheckRecord(db string, rec Record, m Module) error {
	if m.ZipHash != "" {
		if ok, got := rec.HasLine(m.Version, m.ZipHash); !ok {
			return &RecordError{Path: m.Path, Version: m.Version, Want: m.ZipHash, Got: got, DB: db}
		}
	}
	if m.ModHash != "" {
		if ok, got := rec.HasLine(m.Version+"/go.mod", m.ModHash); !ok {
			return &RecordError{Path: m.Path, Version: m.Version + "/go.mod", Want: m.ModHash, Got: got, DB: db}
		}
	}
	return nil
}

// Collect gets the record of every module version (but skipped ones) and
// the tiles proving each of them in ONE signed tree head, the newest the
// client knows (or a base's, if newer; or [CollectConfig.Tree] when given),
// and checks them as the go command
// would: the head's signature, every record's proof, every record's
// hashes against the module's. Older heads of the bases are proven
// consistent with that tree.
func Collect(ctx context.Context, cfg CollectConfig) (*Data, error) {
	src := cfg.Source
	name := src.Name()
	verifier, err := note.NewVerifier(src.Key())
	if err != nil {
		return nil, fmt.Errorf("checksum database %s: %w", name, err)
	}
	d := &Data{Name: name, Key: src.Key(), Tiles: NewTileSet()}

	// Records.
	for _, m := range cfg.Modules {
		if cfg.Skip != nil && cfg.Skip(m.Path) {
			d.Stats.Skipped++
			continue
		}
		if m.ModHash == "" && m.ZipHash == "" {
			continue
		}
		ans, err := src.Lookup(ctx, m.Path, m.Version)
		if err != nil {
			return nil, fmt.Errorf("%s@%s: checksum database %s: %w", m.Path, m.Version, name, err)
		}
		id, text, _, err := tlog.ParseRecord(ans)
		if err != nil {
			return nil, fmt.Errorf("%s@%s: checksum database %s lookup answer: %w", m.Path, m.Version, name, err)
		}
		rec := Record{Path: m.Path, Version: m.Version, ID: id, Text: text}
		if err := CheckRecord(name, rec, m); err != nil {
			return nil, err
		}
		d.Records = append(d.Records, rec)
	}

	// Tree heads: the client's newest (or the pinned one), and the bases'.
	heads := map[int64]Head{}
	addHead := func(h Head, what string) error {
		if old, ok := heads[h.Tree.N]; ok && old.Tree.Hash != h.Tree.Hash {
			return fmt.Errorf("checksum database %s: %s: two tree heads of size %d with different hashes: the log forked", name, what, h.Tree.N)
		}
		heads[h.Tree.N] = h
		return nil
	}
	client, err := clientHead(src, verifier)
	if err != nil {
		return nil, err
	}
	var pin *Head
	if cfg.Tree != nil {
		h, err := OpenHead(cfg.Tree, verifier)
		if err != nil {
			return nil, fmt.Errorf("checksum database %s: pinned tree head: %w", name, err)
		}
		pin = &h
		if err := addHead(h, "pinned tree head"); err != nil {
			return nil, err
		}
	} else if client != nil {
		if err := addHead(*client, "latest tree head"); err != nil {
			return nil, err
		}
	}
	baseRecs, baseHeads, err := addBaseHeads(cfg.Bases, name, verifier, addHead)
	if err != nil {
		return nil, err
	}
	if len(heads) == 0 {
		if len(d.Records) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("checksum database %s: no signed tree head known after the lookups", name)
	}
	sizes := make([]int64, 0, len(heads))
	for n := range heads {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	d.Latest = heads[sizes[len(sizes)-1]]
	if pin != nil && d.Latest.Tree.N != pin.Tree.N {
		return nil, fmt.Errorf("checksum database %s: a base bundle's tree %d is newer than the pinned tree %d", name, d.Latest.Tree.N, pin.Tree.N)
	}

	// Proofs, through a reader that keeps every tile the proofs used.
	rd := &collectReader{ctx: ctx, src: src, tiles: d.Tiles}
	if err := proveAll(d, rd, baseRecs, pin != nil); err != nil {
		return nil, err
	}
	for _, n := range sizes[:len(sizes)-1] {
		if err := ProveTree(d.Latest, heads[n], rd); err != nil {
			if rd.err != nil {
				err = rd.err
			}
			return nil, fmt.Errorf("checksum database %s: %w", name, err)
		}
		if baseHeads[n] {
			d.Older = append(d.Older, heads[n])
		}
	}
	if pin != nil && client != nil {
		if err := checkPinConsistent(ctx, src, d, *client); err != nil {
			return nil, err
		}
	}

	d.Stats.Records = len(d.Records)
	d.Stats.Tree = d.Latest.Tree.N
	for _, t := range d.Tiles.List() {
		d.Stats.Tiles++
		d.Stats.TileBytes += int64(t.W * tlog.HashSize)
	}
	for _, r := range d.Records {
		msg, err := tlog.FormatRecord(r.ID, r.Text)
		if err != nil {
			return nil, fmt.Errorf("%s@%s: checksum database %s record: %w", r.Path, r.Version, name, err)
		}
		d.Stats.RecordBytes += int64(len(msg))
	}
	for _, h := range d.Older {
		d.Stats.Older = append(d.Stats.Older, h.Tree.N)
	}
	return d, nil
}

// clientHead returns the newest tree head the client has accepted, nil if
// none.
func clientHead(src Source, verifier note.Verifier) (*Head, error) {
	latest, err := src.Latest()
	if err != nil {
		return nil, fmt.Errorf("checksum database %s: latest tree head: %w", src.Name(), err)
	}
	if len(latest) == 0 {
		return nil, nil
	}
	h, err := OpenHead(latest, verifier)
	if err != nil {
		return nil, fmt.Errorf("checksum database %s: latest tree head: %w", src.Name(), err)
	}
	return &h, nil
}

// addBaseHeads adds the tree heads of the base bundles, checked with this
// database's key (not the bases' own), and returns the bases' records and
// the sizes of their heads.
func addBaseHeads(bases []*Store, name string, verifier note.Verifier, addHead func(Head, string) error) ([]Record, map[int64]bool, error) {
	var recs []Record
	sizes := map[int64]bool{}
	for _, b := range bases {
		if b == nil {
			continue
		}
		if b.Name != name {
			return nil, nil, fmt.Errorf("base bundle holds checksum database %s, not %s", b.Name, name)
		}
		for _, h := range append([]Head{b.Latest}, b.Older...) {
			hh, err := OpenHead(h.Note, verifier)
			if err != nil {
				return nil, nil, fmt.Errorf("base bundle: checksum database %s tree %d: %w", name, h.Tree.N, err)
			}
			if err := addHead(hh, "base bundle"); err != nil {
				return nil, nil, err
			}
			sizes[hh.Tree.N] = true
		}
		recs = append(recs, b.Records...)
	}
	return recs, sizes, nil
}

// proveAll proves d's records and the bases' in d.Latest through rd.
func proveAll(d *Data, rd *collectReader, baseRecs []Record, pinned bool) error {
	all := append(slices.Clone(d.Records), baseRecs...)
	for i, err := range ProveRecords(d.Latest, all, rd) {
		if err == nil {
			continue
		}
		if rd.err != nil {
			if pinned && errors.Is(rd.err, fs.ErrNotExist) {
				return fmt.Errorf("checksum database %s no longer serves the tiles of the pinned tree %d: %w", d.Name, d.Latest.Tree.N, rd.err)
			}
			return fmt.Errorf("checksum database %s: %w", d.Name, rd.err)
		}
		if pinned && all[i].ID >= d.Latest.Tree.N {
			return fmt.Errorf("checksum database %s: %s@%s was added to the log (record %d) after the pinned tree %d: it can't be proven in it", d.Name, all[i].Path, all[i].Version, all[i].ID, d.Latest.Tree.N)
		}
		if i >= len(d.Records) {
			return fmt.Errorf("base bundle: checksum database %s: %w", d.Name, err)
		}
		return fmt.Errorf("checksum database %s: %w", d.Name, err)
	}
	return nil
}

// checkPinConsistent checks that the pinned tree d.Latest and the newest
// tree the client accepted are one log (the older contained in the newer),
// so that a pinned head cannot smuggle in a fork. The tiles this reads
// are not stored: the bundle holds only what proves its records in the
// pinned tree.
func checkPinConsistent(ctx context.Context, src Source, d *Data, client Head) error {
	scratch := NewTileSet()
	if err := scratch.Merge(d.Tiles); err != nil {
		return err
	}
	rd := &collectReader{ctx: ctx, src: src, tiles: scratch}
	newer, older := client, d.Latest
	if older.Tree.N > newer.Tree.N {
		newer, older = older, newer
	}
	if err := ProveTree(newer, older, rd); err != nil {
		if rd.err != nil {
			err = rd.err
		}
		return fmt.Errorf("checksum database %s: pinned tree %d and the newest tree %d: %w", d.Name, d.Latest.Tree.N, client.Tree.N, err)
	}
	return nil
}

// collectReader reads tiles from the source and keeps those a successful
// proof authenticated (SaveTiles).
type collectReader struct {
	ctx   context.Context
	src   Source
	mu    sync.Mutex
	tiles *TileSet
	err   error // first read failure, to report instead of "not proven"
}

func (r *collectReader) Height() int { return TileHeight }

func (r *collectReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	r.mu.Lock()
	var need []tlog.Tile
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if data, ok := r.tiles.Get(t); ok {
			out[i] = data
		} else {
			need = append(need, t)
		}
	}
	r.mu.Unlock()
	if len(need) == 0 {
		return out, nil
	}
	data, err := r.src.ReadTiles(r.ctx, need)
	if err != nil {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
		return nil, err
	}
	if len(data) != len(need) {
		return nil, errors.New("tile reader returned a wrong number of tiles")
	}
	j := 0
	for i := range out {
		if out[i] == nil {
			out[i] = data[j]
			j++
		}
	}
	return out, nil
}

func (r *collectReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, t := range tiles {
		// Kept, not copied: the tiles come from the reader's ReadTiles,
		// and so from the client's store, which never writes to them
		// (clipped, so that no append reaches bytes beyond them); a copy
		// was 36 MB of a union of large projects' live heap.
		if err := r.tiles.add(t, slices.Clip(data[i]), false); err != nil && r.err == nil {
			r.err = err
		}
	}
}

// Properties returns the bundle properties describing d.
func (d *Data) Properties() []bundle.Property {
	return []bundle.Property{
		{Key: PropKey, Value: d.Key},
		{Key: PropName, Value: d.Name},
		{Key: PropTree, Value: fmt.Sprint(d.Latest.Tree.N)},
	}
}

// AddTo adds d's entries to a bundle writer; origin names where they came from.
func (d *Data) AddTo(ctx context.Context, w *bundle.Writer, origin string) error {
	add := func(name string, data []byte) error {
		return w.AddExtra(ctx, bundle.ExtraSource{Kind: Kind, Name: name, Data: data, Origin: origin})
	}
	if err := add(LatestName(d.Name), d.Latest.Note); err != nil {
		return err
	}
	for _, h := range d.Older {
		if err := add(TreeName(d.Name, h.Tree.N), h.Note); err != nil {
			return err
		}
	}
	for _, r := range d.Records {
		name, err := RecordName(d.Name, r.Path, r.Version)
		if err != nil {
			return err
		}
		msg, err := tlog.FormatRecord(r.ID, r.Text)
		if err != nil {
			return err
		}
		if err := add(name, msg); err != nil {
			return err
		}
	}
	for _, t := range d.Tiles.List() {
		data, _ := d.Tiles.Get(t)
		if err := add(TileName(d.Name, t), data); err != nil {
			return err
		}
	}
	return nil
}
