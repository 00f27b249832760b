// Package vulndb owns the Go vulnerability database a bundle carries: read
// from the OSV entries in the module zip of golang.org/x/vulndb
// (data/osv/<ID>.json), laid out as govulncheck reads it (the v1 API of
// the Go vulnerability database), stored as bundle extras of kind
// [Kind], read back, checked and written to a directory.
//
// # Layout
//
// Extras of kind "vulndb", named as the database's endpoints (each one
// JSON file; a server adds ".gz" for the gzipped form clients fetch over
// HTTP):
//
//	index/db.json        {"modified": newest entry modification time}
//	index/modules.json   [{"path", "vulns": [{"id", "modified", "fixed"}]}], by path, then id
//	index/vulns.json     [{"id", "modified", "aliases"}], by id
//	ID/<id>.json         the OSV entry, as the vulndb module holds it
//
// When no entry has a modification time (those of golang.org/x/vulndb
// have none: vuln.go.dev takes them from the repository's history),
// db.json's is the commit time of the module's pseudo-version.
//
// "fixed" is the newest fixed version of the entry's semver ranges for the
// module that no later introduction supersedes, "" when there is none (a
// client then reads the entry whatever its version); several affected
// blocks of one module give one item, "" if any of them has no fix. The
// property [PropModule] records the golang.org/x/vulndb module version.
//
// # Bounds
//
// A bundle (and a vulndb zip from a mirror) is hostile input: entry names
// must be [ValidID] ids, at most [MaxEntries] of them, each at most
// [MaxEntrySize] bytes; they must parse as OSV with an id equal to the
// file name's. Loading a bundle's database checks that the three indexes
// are present and parse, that every id they name has its entry and every
// entry is named by vulns.json.
package vulndb

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/fsutil"
)

const (
	// Kind is the extras kind of the database's files.
	Kind = "vulndb"
	// ModulePath is the module that publishes the database.
	ModulePath = "golang.org/x/vulndb"
	// Dir is the directory of a GOPROXY tree (unpack) that holds the
	// database, and the path prefix serve answers it under.
	Dir = "vulndb"
	// PropModule is the bundle property naming the module version read.
	PropModule = "vulndb.module"

	// DBFile, ModulesFile and VulnsFile are the index endpoints.
	DBFile      = "index/db.json"
	ModulesFile = "index/modules.json"
	VulnsFile   = "index/vulns.json"

	// MaxEntries bounds the entries of a database (4,789 in November 2026).
	MaxEntries = 200000
	// MaxEntrySize bounds one OSV entry.
	MaxEntrySize = 4 << 20
	// maxIndexSize bounds an index file.
	maxIndexSize = 256 << 20
	// osvDir is where the module zip holds the entries.
	osvDir = "data/osv/"
)

var idRE = regexp.MustCompile(`^[A-Z]{2,10}-[0-9]{4}-[0-9]{1,10}$`)

// ValidID reports whether id can name an entry (GO-2024-3333): letters,
// digits and dashes only, so it is safe as a file name on every system.
func ValidID(id string) bool { return idRE.MatchString(id) }

// EntryFile is the extra name of entry id.
func EntryFile(id string) string { return "ID/" + id + ".json" }

// DB is a database in the layout govulncheck reads.
type DB struct {
	Module   module.Version    // the golang.org/x/vulndb version it came from
	Modified time.Time         // newest modification of an entry
	Files    map[string][]byte // extra name (endpoint + ".json") → content
	Entries  int
}

// osvEntry is the part of an OSV entry the indexes need.
type osvEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges,omitempty"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced,omitempty"`
		Fixed      string `json:"fixed,omitempty"`
	} `json:"events"`
}

type dbMeta struct {
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type vulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// FromZip reads the OSV entries of mv's module zip (the file zipFile, as a
// mirror served it and checked) and builds the database.
func FromZip(ctx context.Context, mv module.Version, zipFile string) (*DB, error) {
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return nil, fmt.Errorf("vulndb %s: %w", mv, err)
	}
	defer zr.Close()
	prefix := mv.Path + "@" + mv.Version + "/" + osvDir
	entries := map[string][]byte{}
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rest, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || strings.Contains(rest, "/") || !strings.HasSuffix(rest, ".json") {
			continue
		}
		id := strings.TrimSuffix(rest, ".json")
		if !ValidID(id) {
			return nil, fmt.Errorf("vulndb %s: %s: not an entry id", mv, f.Name)
		}
		if len(entries) >= MaxEntries {
			return nil, fmt.Errorf("vulndb %s: more than %d entries", mv, MaxEntries)
		}
		if f.UncompressedSize64 > MaxEntrySize {
			return nil, fmt.Errorf("vulndb %s: %s: larger than %d bytes", mv, f.Name, MaxEntrySize)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("vulndb %s: %s: %w", mv, f.Name, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, MaxEntrySize+1))
		rc.Close()
		if err == nil && len(data) > MaxEntrySize {
			err = fmt.Errorf("larger than %d bytes", MaxEntrySize)
		}
		if err != nil {
			return nil, fmt.Errorf("vulndb %s: %s: %w", mv, f.Name, err)
		}
		entries[id] = data
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("vulndb %s: no OSV entries (%s*.json) in its zip", mv, osvDir)
	}
	db, err := Build(entries)
	if err != nil {
		return nil, fmt.Errorf("vulndb %s: %w", mv, err)
	}
	db.Module = mv
	// The module's entries carry no modification times (vuln.go.dev takes
	// them from the repository's history): the database then dates from
	// its version's commit time.
	if t, err := module.PseudoVersionTime(mv.Version); err == nil && db.Modified.IsZero() {
		db.Modified = t.UTC()
		if db.Files[DBFile], err = json.Marshal(dbMeta{Modified: db.Modified}); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// Build builds the database from OSV entries by id.
func Build(entries map[string][]byte) (*DB, error) {
	ids := make([]string, 0, len(entries))
	for id := range entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	db := &DB{Files: make(map[string][]byte, len(entries)+3), Entries: len(entries)}
	mods := map[string]*moduleMeta{}
	vulns := make([]vulnMeta, 0, len(ids))
	for _, id := range ids {
		var e osvEntry
		if err := json.Unmarshal(entries[id], &e); err != nil {
			return nil, fmt.Errorf("%s: %w", EntryFile(id), err)
		}
		if e.ID != id {
			return nil, fmt.Errorf("%s: holds entry %q", EntryFile(id), e.ID)
		}
		if e.Modified.After(db.Modified) {
			db.Modified = e.Modified
		}
		vulns = append(vulns, vulnMeta{ID: id, Modified: e.Modified, Aliases: e.Aliases})
		fixed := map[string]string{}
		var order []string
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" {
				continue
			}
			f := nonSupersededFix(a.Ranges)
			old, seen := fixed[p]
			switch {
			case !seen:
				order = append(order, p)
				fixed[p] = f
			case old == "" || f == "":
				fixed[p] = ""
			case less(old, f):
				fixed[p] = f
			}
		}
		for _, p := range order {
			m := mods[p]
			if m == nil {
				m = &moduleMeta{Path: p}
				mods[p] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: id, Modified: e.Modified, Fixed: fixed[p]})
		}
		db.Files[EntryFile(id)] = entries[id]
	}
	modList := make([]*moduleMeta, 0, len(mods))
	for _, m := range mods {
		modList = append(modList, m)
	}
	slices.SortFunc(modList, func(a, b *moduleMeta) int { return strings.Compare(a.Path, b.Path) })
	var err error
	if db.Files[DBFile], err = json.Marshal(dbMeta{Modified: db.Modified}); err != nil {
		return nil, err
	}
	if db.Files[ModulesFile], err = json.Marshal(modList); err != nil {
		return nil, err
	}
	if db.Files[VulnsFile], err = json.Marshal(vulns); err != nil {
		return nil, err
	}
	return db, nil
}

// less compares OSV versions (no "v" prefix) as semver.
func less(a, b string) bool { return semver.Compare("v"+a, "v"+b) < 0 }

// nonSupersededFix returns the newest fixed version of the SEMVER ranges,
// or "" when a later introduction supersedes it (or there is none).
func nonSupersededFix(ranges []osvRange) string {
	var latest string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && (latest == "" || less(latest, e.Fixed)) {
				latest = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && latest != "" && less(latest, e.Introduced) {
				latest = ""
				break
			}
		}
	}
	return latest
}

// Extras returns the database's files as bundle extras, in name order.
func (db *DB) Extras(origin string) []bundle.ExtraSource {
	names := make([]string, 0, len(db.Files))
	for n := range db.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]bundle.ExtraSource, len(names))
	for i, n := range names {
		out[i] = bundle.ExtraSource{Kind: Kind, Name: n, Data: db.Files[n], Origin: origin}
	}
	return out
}

// Source is what a bundle offers to read a database from (*bundle.Reader
// does).
type Source interface {
	Meta() bundle.Meta
	Extras() []bundle.Extra
	ReadExtra(ctx context.Context, kind, name string) ([]byte, error)
}

// Summary describes the database a bundle carries.
type Summary struct {
	Module   string    `json:"module,omitempty"` // golang.org/x/vulndb@version
	Modified time.Time `json:"modified"`
	Entries  int       `json:"entries"`
	Bytes    int64     `json:"bytes"`
}

// Stored is a bundle's database: its summary and the names of its files,
// read on demand.
type Stored struct {
	Summary
	src   Source
	names map[string]bool
	// Modules is index/modules.json, read and checked at Load.
	Modules []byte
}

// ErrNone reports a bundle without a database.
var ErrNone = errors.New("no vulnerability database in the bundle")

// Load reads the indexes of src's database and checks them against its
// entries (see Bounds). It returns ErrNone when src has none.
func Load(ctx context.Context, src Source) (*Stored, error) {
	st := &Stored{src: src, names: map[string]bool{}}
	ids := map[string]bool{}
	for _, x := range src.Extras() {
		if x.Kind != Kind {
			continue
		}
		st.Bytes += x.Size
		id, isEntry := strings.CutPrefix(x.Name, "ID/")
		id, isJSON := strings.CutSuffix(id, ".json")
		switch {
		case x.Name == DBFile || x.Name == ModulesFile || x.Name == VulnsFile:
			if x.Size > maxIndexSize {
				return nil, fmt.Errorf("vulndb: %s: larger than %d bytes", x.Name, maxIndexSize)
			}
		case isEntry && isJSON && ValidID(id):
			if x.Size > MaxEntrySize {
				return nil, fmt.Errorf("vulndb: %s: larger than %d bytes", x.Name, MaxEntrySize)
			}
			if len(ids) >= MaxEntries {
				return nil, fmt.Errorf("vulndb: more than %d entries", MaxEntries)
			}
			ids[id] = true
		default:
			return nil, fmt.Errorf("vulndb: extra %q is not a database file", x.Name)
		}
		st.names[x.Name] = true
	}
	if len(st.names) == 0 {
		return nil, ErrNone
	}
	st.Entries = len(ids)
	for _, n := range []string{DBFile, ModulesFile, VulnsFile} {
		if !st.names[n] {
			return nil, fmt.Errorf("vulndb: %s missing", n)
		}
	}
	var meta dbMeta
	if err := st.readJSON(ctx, DBFile, &meta); err != nil {
		return nil, err
	}
	st.Modified = meta.Modified
	var vulns []vulnMeta
	if err := st.readJSON(ctx, VulnsFile, &vulns); err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, v := range vulns {
		if !ids[v.ID] {
			return nil, fmt.Errorf("vulndb: %s names %q, which has no entry", VulnsFile, v.ID)
		}
		listed[v.ID] = true
	}
	if len(listed) != len(ids) {
		return nil, fmt.Errorf("vulndb: %s lists %d entries of %d", VulnsFile, len(listed), len(ids))
	}
	var mods []moduleMeta
	data, err := src.ReadExtra(ctx, Kind, ModulesFile)
	if err == nil {
		err = json.Unmarshal(data, &mods)
	}
	if err != nil {
		return nil, fmt.Errorf("vulndb: %s: %w", ModulesFile, err)
	}
	for _, m := range mods {
		for _, v := range m.Vulns {
			if !ids[v.ID] {
				return nil, fmt.Errorf("vulndb: %s names %q for %s, which has no entry", ModulesFile, v.ID, m.Path)
			}
		}
	}
	st.Modules = data
	for _, p := range src.Meta().Properties {
		if p.Key == PropModule {
			st.Module = p.Value
		}
	}
	return st, nil
}

func (st *Stored) readJSON(ctx context.Context, name string, v any) error {
	data, err := st.src.ReadExtra(ctx, Kind, name)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		return fmt.Errorf("vulndb: %s: %w", name, err)
	}
	return nil
}

// Has reports whether name (such as "ID/GO-2024-3333.json") is a file of
// the database.
func (st *Stored) Has(name string) bool { return st.names[name] }

// Read returns the file name, checked against the bundle's sha256.
func (st *Stored) Read(ctx context.Context, name string) ([]byte, error) {
	if name == ModulesFile && st.Modules != nil {
		return st.Modules, nil
	}
	return st.src.ReadExtra(ctx, Kind, name)
}

// Names returns the database's file names, sorted.
func (st *Stored) Names() []string {
	out := make([]string, 0, len(st.names))
	for n := range st.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// IDs returns the ids of the database's entries, sorted.
func (st *Stored) IDs() []string {
	var out []string
	for n := range st.names {
		if id, ok := strings.CutPrefix(n, "ID/"); ok {
			out = append(out, strings.TrimSuffix(id, ".json"))
		}
	}
	slices.Sort(out)
	return out
}

// Unpack writes the database into dir (created if needed), one file per
// endpoint, so that `govulncheck -db file://DIR` reads it. Every file is
// checked against the bundle's sha256 as it is read; names were validated
// by Load and are written through an os.Root.
func (st *Stored) Unpack(ctx context.Context, dir string) error {
	root, err := fsutil.CreateRoot(dir)
	if err != nil {
		return fmt.Errorf("vulndb: %w", err)
	}
	defer root.Close()
	for _, name := range st.Names() {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := st.Read(ctx, name)
		if err != nil {
			return err
		}
		if err := fsutil.WriteInRoot(root, name, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return fmt.Errorf("vulndb: %w", err)
		}
	}
	return nil
}

// ReadDir reads a database written by [Stored.Unpack] (or any directory
// in the v1 layout) from fsys: its entries ID/<id>.json, with the bounds
// of a zip's, from which the indexes are built again. It returns ErrNone
// when fsys has no ID directory.
func ReadDir(ctx context.Context, fsys fs.FS) (*DB, error) {
	ents, err := fs.ReadDir(fsys, "ID")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNone
	}
	if err != nil {
		return nil, fmt.Errorf("vulndb: %w", err)
	}
	if len(ents) > MaxEntries {
		return nil, fmt.Errorf("vulndb: more than %d entries", MaxEntries)
	}
	entries := map[string][]byte{}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ValidID(id) || !e.Type().IsRegular() {
			return nil, fmt.Errorf("vulndb: ID/%s: not an entry file", e.Name())
		}
		f, err := fsys.Open("ID/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("vulndb: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(f, MaxEntrySize+1))
		f.Close()
		if err == nil && len(data) > MaxEntrySize {
			err = fmt.Errorf("larger than %d bytes", MaxEntrySize)
		}
		if err != nil {
			return nil, fmt.Errorf("vulndb: ID/%s: %w", e.Name(), err)
		}
		entries[id] = data
	}
	if len(entries) == 0 {
		return nil, ErrNone
	}
	return Build(entries)
}
