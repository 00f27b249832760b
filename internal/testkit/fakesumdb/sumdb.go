// Package fakesumdb is a fake checksum database for tests, built on
// golang.org/x/mod/sumdb: a [sumdb.Server] over an in-memory transparency
// log (golang.org/x/mod/sumdb/tlog) whose records are the go.sum lines of a
// [fixtures.Set], signed with a key (golang.org/x/mod/sumdb/note) generated
// for each database.
//
// Point the go command at it directly with GOSUMDB set to [DB.GOSUMDB]
// ("<vkey> <url>"), or mount it on a fake proxy (fakeproxy.Server.MountSumDB
// with [DB.Name] and [DB.Handler]) and set GOSUMDB to [DB.VerifierKey].
//
// The database's name defaults to the host:port it listens on
// (127.0.0.1:PORT), so that even a go command that falls back from a proxy
// to the database's "direct" address (https://<name>) stays on loopback;
// never name it after a real host.
//
// It can lie: [Options.Lies] lists module versions whose record carries a
// wrong hash, and the go command must then refuse them (SECURITY ERROR).
package fakesumdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Options configures a database.
type Options struct {
	// Name is the database name (and key name); default: the listening
	// host:port.
	Name string
	// Lies lists "path@version" (lie about the zip hash) or
	// "path@version/go.mod" (lie about the go.mod hash) entries.
	Lies []string
	// Lazy adds a module version's record on its first lookup instead of
	// adding every record of the set at start; for large generated sets.
	Lazy bool
}

// A DB is a checksum database; it implements [sumdb.ServerOps].
type DB struct {
	name   string
	vkey   string
	signer note.Signer
	set    *fixtures.Set
	lies   map[string]bool
	lazy   bool
	srv    *httptest.Server
	url    string

	mu      sync.Mutex
	log     []string // paths of the requests served directly
	records [][]byte
	hashes  hashes
	ids     map[module.Version]int64
}

// New returns a database named name (required) over set, not listening.
func New(set *fixtures.Set, opts Options) (*DB, error) {
	if opts.Name == "" {
		return nil, fmt.Errorf("fakesumdb: New needs a name")
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, opts.Name)
	if err != nil {
		return nil, fmt.Errorf("fakesumdb: key for %q: %w", opts.Name, err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	d := &DB{name: opts.Name, vkey: vkey, signer: signer, set: set, lies: map[string]bool{}, lazy: opts.Lazy, ids: map[module.Version]int64{}}
	for _, l := range opts.Lies {
		d.lies[l] = true
	}
	if !opts.Lazy {
		for _, m := range set.Modules() {
			if _, err := d.add(m); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// Start starts a database over set on 127.0.0.1.
func Start(set *fixtures.Set, opts Options) (*DB, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakesumdb: %w", err)
	}
	if opts.Name == "" {
		opts.Name = l.Addr().String()
	}
	d, err := New(set, opts)
	if err != nil {
		l.Close()
		return nil, err
	}
	h := d.Handler()
	d.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.log = append(d.log, r.URL.Path)
		d.mu.Unlock()
		h.ServeHTTP(w, r)
	})}}
	d.srv.Start()
	d.url = d.srv.URL
	return d, nil
}

// Close stops the server started by [Start].
func (d *DB) Close() {
	if d.srv != nil {
		d.srv.CloseClientConnections()
		d.srv.Close()
	}
}

// Name returns the database name.
func (d *DB) Name() string { return d.name }

// VerifierKey returns the verifier key "<name>+<hash>+<key>": the GOSUMDB
// value that reaches the database through a proxy.
func (d *DB) VerifierKey() string { return d.vkey }

// URL returns the base URL of a started database.
func (d *DB) URL() string { return d.url }

// GOSUMDB returns the GOSUMDB value that reaches a started database
// directly: "<vkey> <url>".
func (d *DB) GOSUMDB() string { return d.vkey + " " + d.url }

// Handler returns the HTTP handler serving /lookup/, /latest and /tile/.
func (d *DB) Handler() http.Handler { return sumdb.NewServer(d) }

// Requests returns the URL paths of the requests the started database
// answered directly (not those through a proxy), in order of arrival.
func (d *DB) Requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

// Size returns the number of records in the log.
func (d *DB) Size() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int64(len(d.records))
}

// lie returns a wrong hash for what.
func lie(what string) string {
	sum := sha256.Sum256([]byte("fakesumdb lie: " + what))
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// add appends the record of m, if not there yet, and returns its id.
func (d *DB) add(m *fixtures.Module) (int64, error) {
	mv := m.ModuleVersion()
	d.mu.Lock()
	id, ok := d.ids[mv]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	zh, err := m.ZipHash()
	if err != nil {
		return 0, err
	}
	mh, err := m.ModHash()
	if err != nil {
		return 0, err
	}
	if d.lies[m.String()] {
		zh = lie(m.String())
	}
	if d.lies[m.String()+"/go.mod"] {
		mh = lie(m.String() + "/go.mod")
	}
	rec := fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n", m.Path, m.Version, zh, m.Path, m.Version, mh)

	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[mv]; ok {
		return id, nil
	}
	return d.appendLocked(mv, rec)
}

// appendLocked appends the record rec of mv to the log; d.mu is held.
func (d *DB) appendLocked(mv module.Version, rec []byte) (int64, error) {
	id := int64(len(d.records))
	stored, err := tlog.StoredHashesForRecordHash(id, tlog.RecordHash(rec), d.hashes)
	if err != nil {
		return 0, err
	}
	d.records = append(d.records, rec)
	d.hashes = append(d.hashes, stored...)
	d.ids[mv] = id
	return id, nil
}

// Grow appends n records of module versions nobody serves
// (example.com/grown/N v1.0.0), as a real database grows with other
// people's modules: later lookups carry a newer tree head.
func (d *DB) Grow(n int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for range n {
		mv := module.Version{Path: fmt.Sprintf("example.com/grown/m%d", len(d.records)), Version: "v1.0.0"}
		sum := sha256.Sum256([]byte(mv.String()))
		h := "h1:" + base64.StdEncoding.EncodeToString(sum[:])
		rec := fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n", mv.Path, mv.Version, h, mv.Path, mv.Version, h)
		if _, err := d.appendLocked(mv, rec); err != nil {
			return err
		}
	}
	return nil
}

// Signed implements [sumdb.ServerOps].
func (d *DB) Signed(ctx context.Context) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := int64(len(d.records))
	h, err := tlog.TreeHash(n, d.hashes)
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: n, Hash: h}))}, d.signer)
}

// ReadRecords implements [sumdb.ServerOps].
func (d *DB) ReadRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id < 0 || n < 0 || id+n > int64(len(d.records)) {
		return nil, &fs.PathError{Op: "read records", Path: fmt.Sprintf("%d+%d", id, n), Err: fs.ErrNotExist}
	}
	return append([][]byte(nil), d.records[id:id+n]...), nil
}

// Lookup implements [sumdb.ServerOps]; an unknown module version is a
// not-exist error (404).
func (d *DB) Lookup(ctx context.Context, mv module.Version) (int64, error) {
	d.mu.Lock()
	id, ok := d.ids[mv]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	m, ok := d.set.Lookup(mv.Path, mv.Version)
	if !ok || !d.lazy {
		return 0, &fs.PathError{Op: "lookup", Path: mv.String() + " in checksum database " + d.name, Err: fs.ErrNotExist}
	}
	return d.add(m)
}

// ReadTileData implements [sumdb.ServerOps]; a tile beyond the log is a
// not-exist error (404).
func (d *DB) ReadTileData(ctx context.Context, t tlog.Tile) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return tlog.ReadTileData(t, d.hashes)
}

// LookupAnswer is the body the database serves at /lookup/path@version:
// the record and the signed tree head.
func (d *DB) LookupAnswer(ctx context.Context, path, version string) ([]byte, error) {
	id, err := d.Lookup(ctx, module.Version{Path: path, Version: version})
	if err != nil {
		return nil, err
	}
	recs, err := d.ReadRecords(ctx, id, 1)
	if err != nil {
		return nil, err
	}
	msg, err := tlog.FormatRecord(id, recs[0])
	if err != nil {
		return nil, err
	}
	head, err := d.Signed(ctx)
	if err != nil {
		return nil, err
	}
	return append(msg, head...), nil
}

// ReadTiles returns the data of each tile, as /tile/ serves it.
func (d *DB) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := d.ReadTileData(ctx, t)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// hashes is a tlog.HashReader over a slice.
type hashes []tlog.Hash

func (h hashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(indexes))
	for _, i := range indexes {
		if i < 0 || i >= int64(len(h)) {
			return nil, &fs.PathError{Op: "read hash", Path: fmt.Sprint(i), Err: fs.ErrNotExist}
		}
		out = append(out, h[i])
	}
	return out, nil
}

// ParseLie checks a lie entry ("path@version" or "path@version/go.mod").
func ParseLie(s string) error {
	p, v, ok := strings.Cut(strings.TrimSuffix(s, "/go.mod"), "@")
	if !ok {
		return fmt.Errorf("fakesumdb: lie %q is not path@version[/go.mod]", s)
	}
	return module.Check(p, v)
}
