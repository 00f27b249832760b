package resolver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gobundle/gobundle/internal/applog"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// SumDBConfig configures the checksum database client.
type SumDBConfig struct {
	// GOSUMDB is "name+key", "name+key url", or "off". A bare name is
	// refused: the go command's built-in key for its default database is
	// not written into this package; cmd/gobundle finds it with
	// [KnownSumDBKeys] in the toolchain's source and passes "name+key".
	GOSUMDB  string
	NoSumDB  string // GONOSUMDB (defaults to Private when empty)
	Private  string // GOPRIVATE
	CacheDir string // client state: CacheDir/sumdb/config (tree head), CacheDir/sumdb/cache (lookups, tiles)
	Logger   *slog.Logger
}

// SumDB checks go.sum lines against a checksum database with the
// golang.org/x/mod/sumdb client, fetching through the mirror chain.
//
// # Access
//
// Like the go command, the database is reached through the first mirror of
// the chain that answers <mirror>/sumdb/<name>/supported with 200 (after
// "," only 404/410 move on to the next mirror, after "|" any error), else
// directly at https://<name>, or always at the URL given in GOSUMDB.
//
// # Context
//
// The sumdb client's operations take no context. Requests made on behalf
// of [SumDB.Check] and [SumDB.Lookup] run under the SumDB's own context,
// which [SumDB.Close] cancels; a caller whose ctx is done gets ctx.Err()
// at once while the request finishes (bounded by the mirrors' timeout).
//
// # Recording
//
// Every lookup answer and tile the client reads, from the network or from
// its cache, is recorded so that it can be stored in a bundle and replayed
// offline (see [SumDB.RecordedLookups] and [SumDB.RecordedTiles]).
type SumDB struct {
	name    string
	noSumDB string
	client  *sumdb.Client
	ops     *sumdbOps
	cancel  context.CancelFunc
}

// SumDBError reports a go.sum line the checksum database does not confirm.
type SumDBError struct {
	Path, Version string // Version ends in "/go.mod" for a go.mod hash
	Local         string // the hash checked ("h1:…")
	Remote        string // the database's hash(es), "" if none was obtained
	Source        string // database name and the URL it was reached at
	Err           error  // underlying failure, if any (e.g. sumdb.ErrSecurity)
	// NoRecord reports that the database answered 404 or 410 for the
	// lookup: it does not know the module version.
	NoRecord bool
}

func (e *SumDBError) Error() string {
	m := e.Path + "@" + e.Version
	switch {
	case e.NoRecord:
		return fmt.Sprintf("verifying %s: checksum database %s does not know it, and no go.sum pins its %s: nothing vouches for it", m, e.Source, e.Local)
	case e.Err != nil:
		return fmt.Sprintf("verifying %s (go.sum has %s) with checksum database %s: %s", m, e.Local, e.Source, strings.Join(strings.Fields(e.Err.Error()), " "))
	case e.Remote == "":
		return fmt.Sprintf("verifying %s: checksum database %s has no hash for it (go.sum has %s)", m, e.Source, e.Local)
	default:
		return fmt.Sprintf("verifying %s: checksum mismatch: go.sum has %s, checksum database %s has %s", m, e.Local, e.Source, e.Remote)
	}
}

func (e *SumDBError) Unwrap() error { return e.Err }

// NewSumDB returns a checksum database client using the mirror chain of m,
// or nil, nil when GOSUMDB is "off".
func NewSumDB(cfg SumDBConfig, m *Mirrors) (*SumDB, error) {
	gosumdb := strings.TrimSpace(cfg.GOSUMDB)
	if gosumdb == "off" {
		return nil, nil
	}
	if m == nil {
		return nil, errors.New("checksum database: no mirrors")
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("checksum database: cache directory not set")
	}
	f := strings.Fields(gosumdb)
	switch {
	case len(f) == 0:
		return nil, errors.New("missing GOSUMDB")
	case len(f) > 2:
		return nil, fmt.Errorf("invalid GOSUMDB %q: too many fields", gosumdb)
	case !strings.Contains(f[0], "+"):
		return nil, fmt.Errorf("GOSUMDB %q names no public key: pass name+key (for the go command's default database, the key built into the go toolchain)", gosumdb)
	}
	verifier, err := note.NewVerifier(f[0])
	if err != nil {
		return nil, fmt.Errorf("invalid GOSUMDB %q: %w", f[0], err)
	}
	name := verifier.Name()
	direct, err := url.Parse("https://" + name)
	if err != nil || strings.HasSuffix(name, "/") || direct.Host == "" || *direct != (url.URL{Scheme: "https", Host: direct.Host, Path: direct.Path}) {
		return nil, fmt.Errorf("invalid checksum database name (must be host[/path]): %q", name)
	}
	var base *url.URL
	if len(f) == 2 {
		if base, err = url.Parse(f[1]); err != nil || (base.Scheme != "https" && base.Scheme != "http" && base.Scheme != "file") {
			return nil, fmt.Errorf("invalid GOSUMDB URL %q", redactEntry(f[1]))
		}
		if base.User != nil && base.Scheme != "https" {
			return nil, fmt.Errorf("GOSUMDB URL: %w", insecureCredentialsError(base))
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	noSumDB := cfg.NoSumDB
	if noSumDB == "" {
		noSumDB = cfg.Private
	}
	ctx, cancel := context.WithCancel(context.Background())
	ops := &sumdbOps{
		ctx:     ctx,
		m:       m,
		key:     f[0],
		name:    name,
		direct:  direct,
		base:    base,
		dir:     filepath.Join(cfg.CacheDir, "sumdb"),
		log:     log,
		lookups: make(map[string][]byte),
		tiles:   make(map[string][]byte),
	}
	client := sumdb.NewClient(ops)
	client.SetGONOSUMDB(noSumDB)
	return &SumDB{name: name, noSumDB: noSumDB, client: client, ops: ops, cancel: cancel}, nil
}

// Close stops requests still running for callers that gave up.
func (s *SumDB) Close() error {
	s.cancel()
	return s.ops.closeVerified()
}

// Name returns the database name (the host[/path] of its key).
func (s *SumDB) Name() string { return s.name }

// Source returns where the database is reached: its name and URL, once known.
func (s *SumDB) Source() string { return s.ops.source() }

// Covers reports whether the database checks module path: it does not
// check GONOSUMDB (and GOPRIVATE) modules.
func (s *SumDB) Covers(path string) bool { return !module.MatchPrefixPatterns(s.noSumDB, path) }

// Check verifies the go.sum hash h1 of module@version (of its zip, or of its
// go.mod when isMod is set) against the checksum database. Modules matching
// NoSumDB (or Private) are skipped. A mismatch or a misbehaving database is
// a *SumDBError naming the module, version, both hashes and the source.
func (s *SumDB) Check(ctx context.Context, path, version string, isMod bool, h1 string) error {
	if module.MatchPrefixPatterns(s.noSumDB, path) {
		return nil
	}
	vers := version
	if isMod {
		vers += "/go.mod"
	}
	lines, err := s.lookup(ctx, path, vers)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &SumDBError{Path: path, Version: vers, Local: h1, Source: s.Source(), Err: err, NoRecord: s.ops.noRecord(path, vers)}
	}
	var remote []string
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		if f[2] == h1 {
			return nil
		}
		remote = append(remote, f[2])
	}
	return &SumDBError{Path: path, Version: vers, Local: h1, Remote: strings.Join(remote, ","), Source: s.Source()}
}

// Prefetch starts the lookup of module@version in the background, unless
// the module is not checked by the database (lookup itself returns at
// once for an answer verified already): a Check of its go.mod or zip
// hash that follows waits for that lookup instead of starting its own
// (the client reads each lookup once). Its error, if any, is the Check's
// to report.
func (s *SumDB) Prefetch(ctx context.Context, path, version string) {
	if s.Covers(path) {
		go s.lookup(ctx, path, version)
	}
}

// Lookup returns the raw, verified lookup answer for module@version (record
// id, go.sum lines, signed tree head), as served at /lookup/M@V; it is
// recorded like every answer the client reads.
func (s *SumDB) Lookup(ctx context.Context, path, version string) ([]byte, error) {
	if _, err := s.lookup(ctx, path, version); err != nil {
		return nil, err
	}
	key, err := lookupKey(path, version)
	if err != nil {
		return nil, err
	}
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	data, ok := s.ops.lookups[key]
	if !ok {
		return nil, fmt.Errorf("%s@%s: lookup answer not recorded", path, version)
	}
	return data, nil
}

// lookup runs the client's Lookup, returning early when ctx is done.
func (s *SumDB) lookup(ctx context.Context, path, vers string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if lines, ok := s.ops.verifiedLookup(path, vers); ok {
		return lines, nil
	}
	type result struct {
		lines []string
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		lines, err := s.client.Lookup(path, vers)
		if err != nil {
			if msg := s.ops.securityMsg(); msg != "" && errors.Is(err, sumdb.ErrSecurity) {
				err = fmt.Errorf("%w: %s", err, msg)
			}
		} else {
			s.ops.markVerified(path, vers)
		}
		ch <- result{lines, err}
	}()
	select {
	case r := <-ch:
		return r.lines, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// RecordedLookups returns the lookup answers read so far, keyed by their
// path below the database URL ("lookup/<escaped path>@<escaped version>").
func (s *SumDB) RecordedLookups() map[string][]byte {
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	return maps.Clone(s.ops.lookups)
}

// RecordedTiles returns the tiles read so far, keyed by their path below
// the database URL ("tile/8/0/x001/234.p/5").
func (s *SumDB) RecordedTiles() map[string][]byte {
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	return maps.Clone(s.ops.tiles)
}

// Latest returns the latest signed tree head the client knows ("" if none).
func (s *SumDB) Latest() ([]byte, error) {
	return s.ops.ReadConfig(s.name + "/latest")
}

func lookupKey(path, version string) (string, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	ev, err := module.EscapeVersion(strings.TrimSuffix(version, "/go.mod"))
	if err != nil {
		return "", err
	}
	return "lookup/" + ep + "@" + ev, nil
}

// sumdbOps implements sumdb.ClientOps over the mirror chain and a state
// directory. The tree head is kept in dir/config, lookups and tiles in
// dir/cache, as files named like the go command's.
type sumdbOps struct {
	ctx    context.Context
	m      *Mirrors
	key    string
	name   string
	direct *url.URL // https://<name>
	base   *url.URL // where to read from; set by findBase unless given
	dir    string
	log    *slog.Logger

	baseOnce sync.Once
	baseErr  error

	mu       sync.Mutex
	missing  map[string]bool // lookups answered 404 or 410
	lookups  map[string][]byte
	tiles    map[string][]byte
	security []string

	// verified maps lookup keys to the sums of verified answers (see
	// verifiedLookup); loaded once from the log.
	verifiedOnce sync.Once
	verified     map[string]string
	verifiedW    *os.File // the log, open for appending once needed
	lookupOnce   sync.Once
	lookupLog    map[string][]byte // lookups.log, by cache file name
	tileLog      map[string][]byte // tiles.log, by cache file name
	tilesW       *applog.Writer
	lookupMu     sync.Mutex // serialises appends to lookups.log
	lookupW      *os.File   // lookups.log, open for appending once needed
	verifiedErr  error      // why it could not be opened
	// verifiedHits counts lookups answered from verified answers.
	verifiedHits atomic.Int64
}

func (o *sumdbOps) source() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.base == nil {
		return o.name
	}
	return o.name + " at " + redact(o.base)
}

func (o *sumdbOps) securityMsg() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.security, "; ")
}

// findBase picks the URL of the database: the first mirror answering
// /sumdb/<name>/supported, else the database itself.
func (o *sumdbOps) findBase() {
	o.mu.Lock()
	given := o.base != nil
	o.mu.Unlock()
	if given {
		return
	}
	for _, spec := range o.m.specs {
		if spec.word != "" { // "direct" and "off" end the list: go to the database
			break
		}
		supported := joinURL(spec.url, "sumdb/"+o.name+"/supported")
		_, err := o.m.readURL(o.ctx, supported)
		if err == nil {
			o.mu.Lock()
			o.base = joinURL(spec.url, "sumdb/"+o.name)
			o.mu.Unlock()
			o.log.Debug("checksum database through mirror", "name", o.name, "mirror", spec.String())
			return
		}
		if !errors.Is(err, fs.ErrNotExist) && !spec.fallBackOnError {
			o.baseErr = fmt.Errorf("checksum database %s through %s: %w", o.name, spec.String(), err)
			return
		}
	}
	o.mu.Lock()
	o.base = o.direct
	o.mu.Unlock()
}

func (o *sumdbOps) ReadRemote(path string) ([]byte, error) {
	return o.readRemote(o.ctx, path)
}

// readRemote reads path below the database URL under ctx and records it.
func (o *sumdbOps) readRemote(ctx context.Context, path string) ([]byte, error) {
	o.baseOnce.Do(o.findBase)
	if o.baseErr != nil {
		return nil, o.baseErr
	}
	o.mu.Lock()
	base := o.base
	o.mu.Unlock()
	data, err := o.m.readURL(ctx, joinURL(base, strings.TrimPrefix(path, "/")))
	if err != nil {
		if rel := strings.TrimPrefix(path, "/"); strings.HasPrefix(rel, "lookup/") && errors.Is(err, fs.ErrNotExist) {
			o.mu.Lock()
			if o.missing == nil {
				o.missing = map[string]bool{}
			}
			o.missing[rel] = true
			o.mu.Unlock()
		}
		return nil, err
	}
	o.record(strings.TrimPrefix(path, "/"), data)
	return data, nil
}

func (o *sumdbOps) record(rel string, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case strings.HasPrefix(rel, "lookup/"):
		o.lookups[rel] = data
	case strings.HasPrefix(rel, "tile/"):
		o.tiles[rel] = data
	}
}

// recorded returns the tile rel ("tile/...") this process read already.
func (o *sumdbOps) recorded(rel string) ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	data, ok := o.tiles[rel]
	return data, ok
}

func (o *sumdbOps) configFile(file string) string {
	return filepath.Join(o.dir, "config", filepath.FromSlash(file))
}

func (o *sumdbOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	data, err := os.ReadFile(o.configFile(file))
	if errors.Is(err, fs.ErrNotExist) {
		return []byte{}, nil
	}
	return data, err
}

func (o *sumdbOps) WriteConfig(file string, old, new []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	cur, err := os.ReadFile(o.configFile(file))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if !bytes.Equal(cur, old) {
		return sumdb.ErrWriteConflict
	}
	return writeFileAtomic(o.configFile(file), new)
}

func (o *sumdbOps) ReadCache(file string) ([]byte, error) {
	data, err := o.readCache(file)
	if err != nil {
		return nil, err
	}
	o.record(strings.TrimPrefix(file, o.name+"/"), data)
	return data, nil
}

// readCache reads a cached file: a lookup answer from lookups.log, else
// (or from older caches) the file under dir/cache.
func (o *sumdbOps) readCache(file string) ([]byte, error) {
	if isLookupFile(file) {
		o.loadLookups()
		o.mu.Lock()
		data, ok := o.lookupLog[file]
		o.mu.Unlock()
		if ok {
			return data, nil
		}
	} else {
		o.loadLookups()
		o.mu.Lock()
		data, ok := o.tileLog[file]
		o.mu.Unlock()
		if ok {
			return data, nil
		}
	}
	return os.ReadFile(filepath.Join(o.dir, "cache", filepath.FromSlash(file)))
}

func (o *sumdbOps) WriteCache(file string, data []byte) {
	if isLookupFile(file) {
		if err := o.logLookup(file, data); err != nil {
			o.log.Warn("checksum database cache", "file", o.lookupsFile(), "err", err)
		}
		return
	}
	if err := o.logTile(file, data); err != nil {
		o.log.Warn("checksum database cache", "file", o.tilesFile(), "err", err)
	}
}

// # Lookup log
//
// A large graph makes thousands of lookups; creating a cache file for each
// dominated the system time of a cold create. The answers the client
// caches are appended instead to dir/lookups.log, one JSON line each
// ({"f": "<name>/lookup/M@V", "data": base64}), read once per process.
// Each line is one append, so concurrent processes do not mix lines; a torn
// line is skipped. The other files the client caches (tiles, thousands of
// them on a large graph) go to dir/tiles.log, an internal/applog log keyed
// by their names; caches written before keep them as files under
// dir/cache, still read.

// lookupLine is a line of lookups.log.
type lookupLine struct {
	F    string `json:"f"`
	Data []byte `json:"data"`
}

func isLookupFile(file string) bool { return strings.Contains(file, "/lookup/") }

func (o *sumdbOps) lookupsFile() string { return filepath.Join(o.dir, "lookups.log") }

func (o *sumdbOps) tilesFile() string { return filepath.Join(o.dir, "tiles.log") }

func (o *sumdbOps) logTile(file string, data []byte) error {
	o.loadLookups()
	if err := os.MkdirAll(o.dir, 0o777); err != nil {
		return err
	}
	// Not kept in tileLog too: the client asks for each tile once (it
	// keeps what it read), and a copy per tile was 45 MB of a union's
	// live heap. Another client over the same directory reads the log.
	return o.tilesW.Append(file, data)
}

func (o *sumdbOps) loadLookups() {
	o.lookupOnce.Do(func() {
		tiles, err := applog.Read(o.tilesFile())
		if err != nil {
			tiles = map[string][]byte{}
		}
		m := make(map[string][]byte)
		if data, err := os.ReadFile(o.lookupsFile()); err == nil {
			for line := range bytes.Lines(data) {
				var l lookupLine
				if bytes.HasSuffix(line, []byte("\n")) && json.Unmarshal(line, &l) == nil && isLookupFile(l.F) {
					m[l.F] = l.Data
				}
			}
		}
		o.mu.Lock()
		o.lookupLog = m
		o.tileLog = tiles
		o.tilesW = applog.NewWriter(o.tilesFile())
		o.mu.Unlock()
	})
}

func (o *sumdbOps) logLookup(file string, data []byte) error {
	o.loadLookups()
	line, err := json.Marshal(lookupLine{F: file, Data: data})
	if err != nil {
		return err
	}
	line = append(line, '\n')
	o.lookupMu.Lock()
	defer o.lookupMu.Unlock()
	if o.lookupW == nil {
		if err := os.MkdirAll(o.dir, 0o777); err != nil {
			return err
		}
		f, err := os.OpenFile(o.lookupsFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
		if err != nil {
			return err
		}
		o.lookupW = f
	}
	if _, err := o.lookupW.Write(line); err != nil {
		return err
	}
	o.mu.Lock()
	o.lookupLog[file] = bytes.Clone(data)
	o.mu.Unlock()
	return nil
}

// # Verified lookups
//
// The client checks every lookup answer it reads, even from its cache: the
// signature of the tree head it carries, that tree's consistency with the
// latest one and the record's inclusion proof, hashing tiles each time
// (about half of a warm create's CPU on a large graph). Those proofs are
// deterministic: an answer verified once stays verified, since the latest
// tree only moves forward through consistency proofs. So once the client has
// verified an answer, a line "<sha256> <key>" is appended to
// dir/verified.log, the SHA-256 being of the verifier key and the answer's
// bytes; a later run whose cached answer has the same bytes takes its lines
// without asking the client. One append-only file (lines are written with
// single appends, so concurrent runs do not mix them; a torn line is
// ignored) keeps a cold run from creating a file per module version. The
// log is as trustworthy as the cache directory holding the answers.

func (o *sumdbOps) verifiedLog() string {
	return filepath.Join(o.dir, "verified.log")
}

func (o *sumdbOps) answerSum(data []byte) string {
	h := sha256.New()
	io.WriteString(h, o.key+"\n")
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// loadVerified reads the verified answers' log once.
func (o *sumdbOps) loadVerified() {
	o.verifiedOnce.Do(func() {
		o.verified = make(map[string]string)
		data, err := os.ReadFile(o.verifiedLog())
		if err != nil {
			return
		}
		for line := range strings.Lines(string(data)) {
			sum, key, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			if ok && strings.HasSuffix(line, "\n") && isHexSHA256(sum) && strings.HasPrefix(key, "lookup/") {
				o.verified[key] = sum
			}
		}
	})
}

// verifiedLookup returns the go.sum lines of path@vers from a cached lookup
// answer the client verified in an earlier run, and records the answer.
func (o *sumdbOps) verifiedLookup(path, vers string) ([]string, bool) {
	key, err := lookupKey(path, vers)
	if err != nil {
		return nil, false
	}
	o.loadVerified()
	o.mu.Lock()
	sum, ok := o.verified[key]
	data, recorded := o.lookups[key]
	o.mu.Unlock()
	if !ok {
		return nil, false
	}
	if !recorded {
		if data, err = o.readCache(o.name + "/" + key); err != nil {
			return nil, false
		}
	}
	// Recorded data too: it may be an answer the client refused.
	if o.answerSum(data) != sum {
		return nil, false
	}
	_, text, _, err := tlog.ParseRecord(data)
	if err != nil {
		return nil, false
	}
	prefix := path + " " + vers + " "
	var lines []string
	for line := range strings.SplitSeq(string(text), "\n") {
		if strings.HasPrefix(line, prefix) {
			lines = append(lines, line)
		}
	}
	if !recorded {
		o.record(key, data)
	}
	o.verifiedHits.Add(1)
	return lines, true
}

// markVerified records that the client verified the answer for path@vers
// it read in this run (from the network or its cache).
func (o *sumdbOps) markVerified(path, vers string) {
	key, err := lookupKey(path, vers)
	if err != nil {
		return
	}
	o.loadVerified()
	o.mu.Lock()
	defer o.mu.Unlock()
	data, ok := o.lookups[key]
	if !ok {
		return
	}
	sum := o.answerSum(data)
	if o.verified[key] == sum {
		return
	}
	o.verified[key] = sum
	if o.verifiedW == nil && o.verifiedErr == nil {
		file := o.verifiedLog()
		if o.verifiedErr = os.MkdirAll(filepath.Dir(file), 0o777); o.verifiedErr == nil {
			o.verifiedW, o.verifiedErr = os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
		}
		if o.verifiedErr != nil {
			o.log.Warn("checksum database cache", "file", file, "err", o.verifiedErr)
		}
	}
	if o.verifiedW != nil {
		// One write per line: appends of concurrent runs do not interleave.
		if _, err := o.verifiedW.WriteString(sum + " " + key + "\n"); err != nil {
			o.log.Warn("checksum database cache", "file", o.verifiedLog(), "err", err)
		}
	}
}

// closeVerified closes the verified answers' log.
func (o *sumdbOps) closeVerified() error {
	o.lookupMu.Lock()
	if o.lookupW != nil {
		o.lookupW.Close()
		o.lookupW = nil
	}
	o.lookupMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tilesW != nil {
		o.tilesW.Close()
	}
	if o.verifiedW == nil {
		return nil
	}
	err := o.verifiedW.Close()
	o.verifiedW = nil
	o.verifiedErr = os.ErrClosed
	return err
}

func (o *sumdbOps) Log(msg string) { o.log.Debug("checksum database", "msg", msg) }

func (o *sumdbOps) SecurityError(msg string) {
	o.log.Error("checksum database security error", "name", o.name, "msg", msg)
	o.mu.Lock()
	o.security = append(o.security, strings.Join(strings.Fields(msg), " "))
	o.mu.Unlock()
}

// readURL reads a small file from an http(s) or file URL with the getter's
// retries and parallelism bound.
func (m *Mirrors) readURL(ctx context.Context, u *url.URL) ([]byte, error) {
	var buf bytes.Buffer
	consume := func(body io.Reader, _ int64) error {
		buf.Reset()
		_, err := io.Copy(&buf, body)
		return err
	}
	var err error
	if u.Scheme == "file" {
		err = m.readFile(ctx, u, consume)
	} else {
		err = m.get.get(ctx, u, consume)
	}
	if err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if cap(data)-len(data) > len(data)/8 {
		// The buffer grew by doubling; callers keep what they read (the
		// checksum database client every tile, 11,000 of them on a union of
		// large projects), so hand over a copy of the bytes alone rather
		// than twice their size.
		data = bytes.Clone(data)
	}
	return data, nil
}

// KnownSumDBKeys extracts the verifier keys the go command has built in
// from the source of its knownGOSUMDB table (cmd/gobundle reads
// $GOROOT/src/cmd/go/internal/modfetch/key.go). Keys whose name does not
// match their entry are dropped.
func KnownSumDBKeys(src []byte) map[string]string {
	re := regexp.MustCompile(`"([^"\s+]+)"\s*:\s*"([^"\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+)"`)
	keys := make(map[string]string)
	for _, m := range re.FindAllSubmatch(src, -1) {
		name, key := string(m[1]), string(m[2])
		if v, err := note.NewVerifier(key); err == nil && v.Name() == name {
			keys[name] = key
		}
	}
	return keys
}

// noRecord reports whether the lookup of path@vers was answered 404 or 410.
func (o *sumdbOps) noRecord(path, vers string) bool {
	key, err := lookupKey(path, vers)
	if err != nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.missing[key]
}
