package resolver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// MirrorConfig is everything the fetch layer needs; cmd/gobundle fills it
// from flags and the environment.
type MirrorConfig struct {
	Proxy      string        // a GOPROXY list: "https://a,https://b|file:///x,direct" or "off"
	NoProxy    string        // GONOPROXY (defaults to Private when empty, like the go command)
	Private    string        // GOPRIVATE
	Insecure   string        // GOINSECURE (passed to the go command for "direct")
	CacheDir   string        // content-addressed download cache root
	Jobs       int           // max parallel requests (default 16 if 0)
	Timeout    time.Duration // per request: fails when no progress for this long (default 60s)
	Retries    int           // retries on 5xx/reset/timeout/truncation (default 4; negative: none)
	Netrc      string        // path of the .netrc file to use ("" none); cmd resolves NETRC / ~/.netrc
	GOAUTH     string        // GOAUTH: "off", "netrc" (default when empty), "git DIR", commands; ";"-separated
	GoCmd      string        // path of the go command for "direct" (default "go")
	GoEnv      []string      // full environment for the direct go command (cmd builds it)
	HTTPClient *http.Client  // optional; default: keep-alive transport sized to Jobs
	Logger     *slog.Logger  // optional; default discards
	Progress   func(Event)   // may be nil

	// DirectProxy is the GOPROXY value given to the go command for
	// "direct" (default "direct"). Tests point it at a file:// tree.
	DirectProxy string
	// RetryBase is the first backoff delay (default 250ms); it doubles per retry.
	RetryBase time.Duration
	// Seed seeds the backoff jitter (default: from the clock).
	Seed uint64
}

// Mirrors fetches module files through a GOPROXY mirror chain into a
// content-addressed download cache. It is safe for concurrent use; at most
// Jobs requests (and go command runs) are in flight at any time, whoever
// the callers are.
type Mirrors struct {
	cfg     MirrorConfig
	specs   []proxySpec
	noProxy string
	cache   *blobCache
	get     *getter
	log     *slog.Logger
	stats   fetchCounters

	progressMu sync.Mutex

	flightMu sync.Mutex
	flight   map[string]*flightCall
}

type flightCall struct {
	done chan struct{}
	f    Fetched
	err  error
}

// Fetched is one file obtained through the chain.
type Fetched struct {
	File string // path of the file in the download cache (content-addressed; never rewritten); "" for .info and .mod files, which ReadFile reads

	Size   int64
	SHA256 string // hex
	Origin string // mirror that served it, credentials removed ("direct" for direct)

	// zipHash is the go.sum hash of a zip downloaded now, from the read
	// that ended its check; FetchZip returns it.
	zipHash string
}

// NewMirrors checks cfg and returns a Mirrors. The error names the GOPROXY
// entry that cannot be parsed.
func NewMirrors(cfg MirrorConfig) (*Mirrors, error) {
	specs, err := parseProxyList(cfg.Proxy)
	if err != nil {
		return nil, err
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = 16
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 4
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 250 * time.Millisecond
	}
	if cfg.GoCmd == "" {
		cfg.GoCmd = "go"
	}
	if cfg.DirectProxy == "" {
		cfg.DirectProxy = "direct"
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache, err := newBlobCache(cfg.CacheDir, cfg.Jobs)
	if err != nil {
		return nil, err
	}
	creds, err := newCredentials(cfg.GOAUTH, cfg.Netrc)
	if err != nil {
		return nil, err
	}
	if _, err := readNetrc(context.Background(), cfg.Netrc); err != nil {
		return nil, err
	}
	client := &http.Client{}
	if cfg.HTTPClient != nil {
		*client = *cfg.HTTPClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 2 * cfg.Jobs
		t.MaxIdleConnsPerHost = cfg.Jobs
		client.Transport = t
	}
	client.CheckRedirect = checkRedirect(client.CheckRedirect)
	noProxy := cfg.NoProxy
	if noProxy == "" {
		noProxy = cfg.Private
	}
	m := &Mirrors{
		cfg:     cfg,
		specs:   specs,
		noProxy: noProxy,
		cache:   cache,
		log:     log,
		flight:  make(map[string]*flightCall),
	}
	m.get = &getter{
		client:    client,
		sem:       make(chan struct{}, cfg.Jobs),
		timeout:   cfg.Timeout,
		retries:   cfg.Retries,
		retryBase: cfg.RetryBase,
		auth:      creds,
		stats:     &m.stats,
		rand:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	return m, nil
}

// Chain returns the mirror list as given, credentials removed, for the
// bundle metadata.
func (m *Mirrors) Chain() []string {
	out := make([]string, len(m.specs))
	for i, s := range m.specs {
		out[i] = s.raw
	}
	return out
}

// Stats reports requests made, bytes fetched, cache hits and retries.
func (m *Mirrors) Stats() FetchStats {
	return FetchStats{
		Requests:  m.stats.requests.Load(),
		Bytes:     m.stats.bytes.Load(),
		CacheHits: m.stats.cacheHits.Load(),
		Retries:   m.stats.retries.Load(),
		Direct:    m.stats.direct.Load(),
	}
}

func (m *Mirrors) progress(e Event) {
	if m.cfg.Progress == nil {
		return
	}
	m.progressMu.Lock()
	defer m.progressMu.Unlock()
	m.cfg.Progress(e)
}

// errProxyOff is the answer of an "off" entry. Like the go command's, it
// counts as "not found" so that "A,off" behaves as "A".
var errProxyOff = fmt.Errorf("module lookup disabled by GOPROXY=off: %w", fs.ErrNotExist)

// notFoundError lists the not-found answers of every mirror tried.
type notFoundError struct{ errs []error }

func (e *notFoundError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e *notFoundError) Is(target error) bool { return target == fs.ErrNotExist }
func (e *notFoundError) Unwrap() []error      { return e.errs }

// Fetch returns module@version's "info", "mod" or "zip" file through the
// mirror chain, from the download cache if it is there (without network).
//
// # Mirror chain rules
//
// These are the go command's: after "," the next entry is tried only if
// this one answered 404 or 410; after "|" on any error; "off" forbids;
// "direct" runs the go command (`go mod download -json`, or `go list -m
// -json` for info and mod) with GOPROXY=direct and a private GOMODCACHE
// under CacheDir. Modules matching NoProxy (or Private) go direct only.
//
// # Errors
//
// Errors are *module.ModuleError naming module@version and the URLs tried;
// if the module version was not found anywhere, they match fs.ErrNotExist.
// Zips are checked with golang.org/x/mod/zip rules before being cached.
func (m *Mirrors) Fetch(ctx context.Context, path, version, kind string) (Fetched, error) {
	f, err := m.fetch(ctx, path, version, kind, nil)
	f.zipHash = ""
	return f, err
}

// ZipReader reads a downloaded module zip through, as the last step of
// its check before the download cache records it, and returns its go.sum
// hash. It must read every file of the zip to its end, through
// archive/zip (which fails on the first byte past the size a file's header
// declares, and on a CRC-32 that does not match): that read is the check
// that catches a zip bomb whose headers lie, within the sizes
// golang.org/x/mod/zip's checks of the headers allowed. f.File is where
// the zip stays once recorded. Its error says what is wrong with the zip;
// a *module.ModuleError for m is taken apart.
type ZipReader func(ctx context.Context, m module.Version, f Fetched) (h1 string, err error)

// FetchZip is Fetch of a zip, with read in place of the read through
// every file that completes the check of a zip downloaded from a mirror
// (nil: [Mirrors.Fetch]'s own, which only hashes). A caller that reads
// each zip in anyway (a bundle writer, which hashes, digests and spools
// every file) thus inflates it once: the check is its read. The check
// still ends before the zip is recorded, and a zip that fails is removed.
// For a zip downloaded now, h1 is its go.sum hash, from that read; for
// one from the cache (checked when it was stored), read is not called and
// h1 is empty. A caller that waited for another's download of the same
// zip gets that one's h1: its read is not called either.
func (m *Mirrors) FetchZip(ctx context.Context, path, version string, read ZipReader) (f Fetched, h1 string, err error) {
	f, err = m.fetch(ctx, path, version, "zip", read)
	h1, f.zipHash = f.zipHash, ""
	return f, h1, err
}

func (m *Mirrors) fetch(ctx context.Context, path, version, kind string, read ZipReader) (Fetched, error) {
	switch kind {
	case "info", "mod", "zip":
	default:
		return Fetched{}, &module.ModuleError{Path: path, Version: version, Err: fmt.Errorf("unknown file kind %q", kind)}
	}
	if err := module.CheckPath(path); err != nil {
		return Fetched{}, &module.ModuleError{Path: path, Version: version, Err: err}
	}
	if version == "" || module.CanonicalVersion(version) != version {
		return Fetched{}, &module.ModuleError{Path: path, Version: version, Err: errors.New("not a canonical semantic version")}
	}
	if f, ok := m.cache.get(ctx, path, version, kind); ok {
		m.stats.cacheHits.Add(1)
		return f, nil
	}
	f, err := m.once(ctx, path+"@"+version+"."+kind, func() (Fetched, error) {
		if f, ok := m.cache.get(ctx, path, version, kind); ok { // another process got it
			m.stats.cacheHits.Add(1)
			return f, nil
		}
		return m.fetchChain(ctx, path, version, kind, read)
	})
	if err != nil {
		return Fetched{}, &module.ModuleError{Path: path, Version: version, Err: err}
	}
	return f, nil
}

// maxSmallFile bounds the .info and .mod files read into memory.
const maxSmallFile = 16 << 20

// ZipHash returns the go.sum hash ("h1:…") of a zip returned by
// [Mirrors.Fetch], computing it (which inflates the whole zip) only the
// first time that content is seen: the download cache remembers it by the
// zip's SHA-256. cached reports that it came from the cache.
func (m *Mirrors) ZipHash(ctx context.Context, path, version string, f Fetched) (h string, cached bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if h, ok := m.cache.zipHash(f.SHA256); ok {
		return h, true, nil
	}
	h, err = hashZip(module.Version{Path: path, Version: version}, f.File)
	if err != nil {
		return "", false, err
	}
	if isHexSHA256(f.SHA256) {
		if err := m.cache.putZipHash(f.SHA256, h); err != nil {
			m.log.Warn("cannot remember zip hash", "module", path+"@"+version, "err", err)
		}
	}
	return h, false, nil
}

// once runs fn for key unless a call for key is already running, in which
// case it waits for that call's result.
func (m *Mirrors) once(ctx context.Context, key string, fn func() (Fetched, error)) (Fetched, error) {
	m.flightMu.Lock()
	if c, ok := m.flight[key]; ok {
		m.flightMu.Unlock()
		select {
		case <-c.done:
			if c.err != nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) && ctx.Err() == nil {
				return m.once(ctx, key, fn) // the other caller gave up; we did not
			}
			return c.f, c.err
		case <-ctx.Done():
			return Fetched{}, ctx.Err()
		}
	}
	c := &flightCall{done: make(chan struct{})}
	m.flight[key] = c
	m.flightMu.Unlock()
	c.f, c.err = fn()
	m.flightMu.Lock()
	delete(m.flight, key)
	m.flightMu.Unlock()
	close(c.done)
	return c.f, c.err
}

// fetchChain walks the mirror list with the go command's rules (TryProxies).
func (m *Mirrors) fetchChain(ctx context.Context, path, version, kind string, read ZipReader) (Fetched, error) {
	if module.MatchPrefixPatterns(m.noProxy, path) {
		// As the go command: GONOPROXY (or GOPRIVATE) modules are fetched
		// directly whatever the list says, even GOPROXY=off, and never
		// from a mirror.
		return m.fetchDirect(ctx, path, version, kind)
	}
	const (
		notExistRank = iota
		proxyRank
		directRank
	)
	var (
		bestErr  error
		bestRank = notExistRank
		notFound []error
	)
	for _, spec := range m.specs {
		var f Fetched
		var err error
		switch spec.word {
		case "off":
			err = errProxyOff
		case "direct":
			f, err = m.fetchDirect(ctx, path, version, kind)
		default:
			f, err = m.fetchProxy(ctx, spec, path, version, kind, read)
		}
		if err == nil {
			return f, nil
		}
		if ctx.Err() != nil {
			return Fetched{}, ctx.Err()
		}
		isNotExist := errors.Is(err, fs.ErrNotExist)
		if isNotExist {
			notFound = append(notFound, err)
		}
		m.log.Debug("mirror failed", "module", path+"@"+version, "kind", kind, "mirror", spec.String(), "err", err)
		switch {
		case spec.word == "direct":
			bestErr, bestRank = err, directRank
		case bestRank <= proxyRank && !isNotExist:
			bestErr, bestRank = err, proxyRank
		case bestRank == notExistRank:
			bestErr = err
		}
		if !spec.fallBackOnError && !isNotExist {
			break
		}
	}
	if len(notFound) > 1 && errors.Is(bestErr, fs.ErrNotExist) {
		return Fetched{}, &notFoundError{notFound}
	}
	return Fetched{}, bestErr
}

// fetchProxy fetches one file from an http(s) or file mirror into the
// cache; a zip is checked and recorded by storeZip.
func (m *Mirrors) fetchProxy(ctx context.Context, spec proxySpec, path, version, kind string, read ZipReader) (Fetched, error) {
	target, err := fileURL(spec.url, path, version, kind)
	if err != nil {
		return Fetched{}, err
	}
	// The temporary file is made once a request slot is held, so that
	// waiting callers hold no open files.
	var tmp *os.File
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name()) // no-op once renamed into the cache
		}
	}()
	item := path + "@" + version + " " + kind
	var h hash.Hash
	var n int64
	// .info and .mod files are small: they are read into memory and
	// written straight beside their blob.
	var small *bytes.Buffer
	consume := func(body io.Reader, size int64) error {
		if kind != "zip" {
			if small == nil {
				small = new(bytes.Buffer)
			}
			small.Reset()
			_, err := io.Copy(small, io.LimitReader(body, maxSmallFile+1))
			if err == nil && small.Len() > maxSmallFile {
				err = fmt.Errorf("%s file larger than %d bytes", kind, maxSmallFile)
			}
			return err
		}
		if tmp == nil {
			f, err := m.cache.tempFile()
			if err != nil {
				return fmt.Errorf("download cache: %w", err)
			}
			tmp = f
		} else if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		} else if err := tmp.Truncate(0); err != nil {
			return err
		}
		h = sha256.New()
		w := &countingWriter{w: io.MultiWriter(tmp, h), every: 1 << 20, report: func(done int64) {
			m.progress(Event{Phase: "bytes", Item: item, Done: done, Total: max(size, 0)})
		}}
		_, err := io.Copy(w, body)
		n = w.n
		return err
	}
	if spec.url.Scheme == "file" {
		err = m.readFile(ctx, target, consume)
	} else {
		err = m.get.get(ctx, target, consume)
	}
	if err != nil {
		return Fetched{}, err
	}
	origin := spec.raw
	if kind == "info" {
		if err := checkInfo(small.Bytes(), path, version, origin); err != nil {
			return Fetched{}, err
		}
	}
	if small != nil {
		n := int64(small.Len())
		m.stats.bytes.Add(n)
		f, err := m.cache.putData(ctx, small.Bytes(), path, version, kind, origin)
		if err != nil {
			return Fetched{}, err
		}
		m.log.Debug("fetched", "file", item, "mirror", origin, "bytes", n)
		m.progress(Event{Phase: "download", Item: item, Bytes: n})
		return f, nil
	}
	if err := tmp.Close(); err != nil {
		return Fetched{}, fmt.Errorf("download cache: %w", err)
	}
	mv := module.Version{Path: path, Version: version}
	f, err := m.storeZip(ctx, mv, tmp.Name(), hex.EncodeToString(h.Sum(nil)), n, origin, redact(target), read)
	if err != nil {
		return Fetched{}, err
	}
	m.stats.bytes.Add(n)
	m.log.Debug("fetched", "file", item, "mirror", origin, "bytes", n)
	m.progress(Event{Phase: "download", Item: item, Bytes: n})
	return f, nil
}

// storeZip checks the zip of mv downloaded from url into tmp (size n,
// SHA-256 sum) and records it in the cache, as the go command does before
// a zip enters its module cache: golang.org/x/mod/zip's checks of names
// and declared sizes in tmp/, then, at its place in the blob store and
// before any key names it, every file read through by read (or
// checkZipFile), which inflates it. A zip that fails is removed. With
// checkZipFile the hash it computed is remembered, as [Mirrors.ZipHash]
// would.
func (m *Mirrors) storeZip(ctx context.Context, mv module.Version, tmp, sum string, n int64, origin, url string, read ZipReader) (Fetched, error) {
	invalid := func(err error) error { return fmt.Errorf("invalid module zip from %s: %w", url, err) }
	if _, err := modzip.CheckZip(mv, tmp); err != nil {
		return Fetched{}, invalid(err)
	}
	f, placed, err := m.cache.placeBlob(ctx, tmp, sum, n, origin)
	if err != nil {
		return Fetched{}, err
	}
	if read != nil {
		f.zipHash, err = read(ctx, mv, f)
		err, _ = moduleErrorCause(mv, err)
	} else {
		f.zipHash, err = checkZipFile(ctx, mv, f.File)
	}
	if err != nil {
		if placed {
			m.cache.dropBlob(f)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// Not the zip's fault: a file the read could not read or
			// write (a full disk under the writer's spool, say).
			return Fetched{}, err
		}
		return Fetched{}, invalid(err)
	}
	if err := m.cache.putKey(mv.Path, mv.Version, "zip", f); err != nil {
		return Fetched{}, err
	}
	if read == nil {
		if err := m.cache.putZipHash(f.SHA256, f.zipHash); err != nil {
			m.log.Warn("cannot remember zip hash", "module", mv.Path+"@"+mv.Version, "err", err)
		}
	}
	return f, nil
}

// moduleErrorCause returns err without the *module.ModuleError naming m
// it may be, and whether it was one.
func moduleErrorCause(m module.Version, err error) (error, bool) {
	if me, ok := err.(*module.ModuleError); ok && me.Path == m.Path && me.Version == m.Version {
		return me.Err, true
	}
	return err, false
}

// countingWriter counts bytes and calls report every `every` bytes.
type countingWriter struct {
	w      io.Writer
	n      int64
	every  int64
	report func(done int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	before := c.n
	c.n += int64(n)
	if c.report != nil && c.n/c.every != before/c.every {
		c.report(c.n)
	}
	return n, err
}

// Close closes the download cache's logs. A Mirrors must not be used after.
func (m *Mirrors) Close() error {
	return m.cache.close()
}

// ReadFile is Fetch followed by reading the (small) file, for info and mod.
func (m *Mirrors) ReadFile(ctx context.Context, path, version, kind string) ([]byte, Fetched, error) {
	f, err := m.Fetch(ctx, path, version, kind)
	if err != nil {
		return nil, Fetched{}, err
	}
	if f.File == "" {
		data, ok := m.cache.smallFile(f.SHA256)
		if !ok {
			return nil, Fetched{}, &module.ModuleError{Path: path, Version: version, Err: fmt.Errorf("download cache: %s content missing", kind)}
		}
		return bytes.Clone(data), f, nil
	}
	data, err := os.ReadFile(f.File)
	if err != nil {
		return nil, Fetched{}, &module.ModuleError{Path: path, Version: version, Err: err}
	}
	return data, f, nil
}

// Probe reports whether module@version exists on the chain (its .info is
// served), without failing on 404/410: it answers the path-prefix probes
// `go mod tidy` and `go get` make. An invalid module path does not exist.
func (m *Mirrors) Probe(ctx context.Context, path, version string) (bool, error) {
	if module.CheckPath(path) != nil {
		return false, nil
	}
	_, err := m.Fetch(ctx, path, version, "info")
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) && ctx.Err() == nil {
		return false, nil
	}
	return false, err
}

// Forget drops module@version's file of the given kind from the download
// cache, so that the next Fetch downloads it again. Callers use it when a
// file fails verification (a mirror served wrong bytes with a right
// length): without it the bad copy would be served from the cache forever.
// The blob itself stays; other keys may share its content.
func (m *Mirrors) Forget(ctx context.Context, path, version, kind string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.cache.forget(path, version, kind); err != nil {
		return &module.ModuleError{Path: path, Version: version, Err: err}
	}
	return nil
}

// readFile reads a file:// URL within the Jobs bound.
func (m *Mirrors) readFile(ctx context.Context, target *url.URL, consume func(io.Reader, int64) error) error {
	if err := m.get.acquire(ctx); err != nil {
		return err
	}
	defer m.get.release()
	m.stats.requests.Add(1)
	return readFileURL(ctx, target, consume)
}

// checkInfo rejects an .info file that is not a JSON object naming the
// version asked for, as the go command does in the mirror chain
// (modfetch proxyRepo.Stat): the error is not a "not found", so "," stops
// on it and "|" falls through to the next mirror.
func checkInfo(data []byte, path, version, origin string) error {
	var info struct{ Version string }
	if err := json.Unmarshal(data, &info); err != nil {
		return &module.ModuleError{Path: path, Version: version,
			Err: fmt.Errorf("invalid response from proxy %s: %w", origin, err)}
	}
	if info.Version != version && version == module.CanonicalVersion(version) && module.Check(path, version) == nil {
		return &module.ModuleError{Path: path, Version: version,
			Err: fmt.Errorf("proxy %s returned info for version %s instead of requested version", origin, info.Version)}
	}
	return nil
}
