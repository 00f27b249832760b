package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gobundle/gobundle/bundle"
)

// Options configure a Server.
type Options struct {
	// Bundles are bundle files, or directories whose *.gobundle files are
	// served, merged into one view in the order given.
	Bundles []string

	// Logger receives the access log (at Info) and problems (at Warn and
	// Error). Nil discards everything.
	Logger *slog.Logger
	// AccessLog logs one line per request.
	AccessLog bool

	// MaxAge is the Cache-Control max-age of versioned files (.info, .mod,
	// .zip), which never change; 0 means one year.
	MaxAge time.Duration
	// ListMaxAge is the Cache-Control max-age of @v/list and @latest, which
	// change when bundles are added; 0 means one minute.
	ListMaxAge time.Duration

	// PollInterval is how often the bundle directories (and files) are
	// checked for changes, reloading the view when they change; 0 disables
	// polling (Reload still works).
	PollInterval time.Duration

	// MemoryBytes, if positive, bounds the frame caches of all loaded
	// bundles together, however many there are: they share one cache
	// (bundle.FrameCache), least recently used frame out whichever bundle
	// it belongs to, so a busy bundle uses what quiet ones leave. It
	// overrides FrameCacheBytes. Frame decompressions, which
	// hold a frame each while they run, are bounded across all bundles
	// to one per CPU either way.
	MemoryBytes int64

	// FrameCacheBytes bounds, per bundle, the decompressed frames kept in
	// memory for reading zips; 0 leaves the bundle package's default.
	FrameCacheBytes int64

	// SumDBKeys are the checksum database verifier keys the server trusts,
	// by database name ("name+hash+key", as note.NewVerifier takes them):
	// the go toolchain's built-in key for its default database and those
	// the user gave. A bundle's checksum database data is served only when
	// its tree heads verify with the trusted key of its database; the key
	// a bundle carries itself is never trusted.
	SumDBKeys map[string]string

	// SignerKeys, if any, are the bundle signers' verifier keys the server
	// trusts (gobundle keygen's NAME.pub): only bundles with a good
	// signature by one of them (by all, with RequireAllSigners) are
	// served, and only once every byte of them was checked against the
	// signed index (a full verify when each is opened: it costs the time
	// of gobundle verify at start and for each new bundle). A bundle file
	// named in Bundles that fails stops New (and
	// fails a reload, which keeps the previous view); one found in a
	// directory is skipped, logged as an error and counted in /metrics
	// (gobundle_serve_bundles_untrusted) and /healthz. A signature covers
	// the index, which holds the sha256 of every frame.
	SignerKeys        []note.Verifier
	RequireAllSigners bool
	// ZipCacheDir, if set, is where deflated zips are made and kept
	// (see zipcache.go): clients then get zips no larger than the mirror
	// sent. Without it, zips are served with stored entries. Several
	// servers may share one directory.
	ZipCacheDir string
	// ZipCacheBytes bounds ZipCacheDir; 0 means DefaultZipCacheBytes.
	ZipCacheBytes int64

	// TLSCertFile and TLSKeyFile make Run serve HTTPS.
	TLSCertFile, TLSKeyFile string

	// WriteTimeout bounds how long one write to a client may block: a
	// client that stops reading is cut off after it, so it holds no
	// goroutine, buffer or connection for longer. 0 means one minute.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection may wait for
	// its next request; 0 means two minutes.
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at once; more wait to be
	// accepted. 0 means 1024.
	MaxConns int

	// MissesFile, when set, keeps the misses (requests answered 404 for
	// module versions, lists, @latest and checksum database records not in
	// the bundles; GET /-/misses) across restarts: it is read at start and
	// appended to. Several servers may share it.
	MissesFile string
	// MaxMisses bounds the distinct misses kept; 0 means 10,000.
	MaxMisses int

	// ShutdownTimeout bounds how long Run waits for requests in flight
	// once its context is done; 0 means ten minutes.
	ShutdownTimeout time.Duration
}

// Server is a read-only GOPROXY over a merged view of bundles.
//
// # Reloads
//
// Reload swaps in a new view atomically. Requests hold the view they
// started with, and its readers stay open until the last of them ends, so
// a download in flight during a reload completes from the bundle it started
// on.
type Server struct {
	opts    Options
	log     *slog.Logger
	open    openFunc
	metrics metrics
	misses  *missLog

	hdr        headerValues
	maxAgeHdr  []string
	listAgeHdr []string

	writers sync.Pool // of *statusWriter
	zips    *zipCache // nil: zips are served stored
	// frames is the frame cache all bundles share under
	// Options.MemoryBytes, nil without a budget.
	frames *bundle.FrameCache
	// fixedMem is what the current view's indexes and checksum database
	// data take of Options.MemoryBytes (shareMemory).
	fixedMem atomic.Int64

	cur      atomic.Pointer[view]
	reloadMu sync.Mutex
	failSig  string // signature of the last bundle set that failed to load
	closed   bool
}

// New opens the bundles of opts and merges them, skipping (and naming in
// Stats, /healthz and /metrics) those that cannot be opened. It fails if
// none of the bundles found can be opened, or two bundles hold different
// content for the same module version (a *ConflictError naming both).
func New(ctx context.Context, opts Options) (*Server, error) {
	slots := newDecodeSlots()
	frames := sharedFrames(opts.MemoryBytes)
	s, err := newServer(ctx, opts, func(ctx context.Context, name string) (source, error) {
		src, err := openReader(ctx, name, opts.FrameCacheBytes, opts.SignerKeys, opts.RequireAllSigners)
		if sd, ok := src.(interface{ ShareDecoding(chan struct{}) }); ok {
			sd.ShareDecoding(slots)
		}
		if sc, ok := src.(interface{ ShareCache(*bundle.FrameCache) }); ok {
			sc.ShareCache(frames)
		}
		return src, err
	})
	if s != nil {
		s.frames = frames
	}
	return s, err
}

func newServer(ctx context.Context, opts Options, open openFunc) (*Server, error) {
	if len(opts.Bundles) == 0 {
		return nil, errors.New("serve: no bundles given")
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 365 * 24 * time.Hour
	}
	if opts.ListMaxAge <= 0 {
		opts.ListMaxAge = time.Minute
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Minute
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = time.Minute
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 1024
	}
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return nil, errors.New("serve: TLS needs both a certificate and a key file")
	}
	if opts.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(opts.TLSCertFile, opts.TLSKeyFile); err != nil {
			return nil, fmt.Errorf("serve: TLS key pair %s, %s: %w", opts.TLSCertFile, opts.TLSKeyFile, err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:       opts,
		log:        log,
		open:       open,
		hdr:        newHeaderValues(),
		maxAgeHdr:  []string{fmt.Sprintf("public, max-age=%d, immutable", int64(opts.MaxAge/time.Second))},
		listAgeHdr: []string{fmt.Sprintf("public, max-age=%d", int64(opts.ListMaxAge/time.Second))},
	}
	if opts.ZipCacheDir != "" {
		if err := os.MkdirAll(opts.ZipCacheDir, 0o777); err != nil {
			return nil, fmt.Errorf("serve: zip cache: %w", err)
		}
		s.zips = newZipCache(opts.ZipCacheDir, opts.ZipCacheBytes)
	}
	files, sig, err := expand(opts.Bundles)
	if err != nil {
		return nil, err
	}
	v, err := buildView(ctx, files, sig, nil, s)
	if err != nil {
		return nil, err
	}
	if s.misses, err = newMissLog(log, opts.MissesFile, opts.MaxMisses); err != nil {
		v.release(log)
		return nil, err
	}
	if len(v.bundles) == 0 && len(v.bad) > 0 {
		// Nothing good to serve: the first bad bundle is the error.
		v.release(log)
		s.misses.close()
		return nil, fmt.Errorf("bundle %s: %w", v.bad[0].name, v.bad[0].err)
	}
	s.shareMemory(v)
	s.cur.Store(v)
	if len(v.bundles) == 0 {
		s.log.Warn("no bundles found yet; every request is answered 404 until some are added", "paths", opts.Bundles)
	}
	s.log.Info("bundles loaded", "bundles", len(v.bundles), "modules", len(v.mods), "versions", v.versions)
	return s, nil
}

// Handler returns the HTTP handler: the GOPROXY protocol, /healthz and
// /metrics.
func (s *Server) Handler() http.Handler { return s }

// Stats describes the view being served.
type Stats struct {
	Bundles  []string // bundle file names
	Bad      []string // bundle files skipped: "name: why"
	Modules  int      // module paths
	Versions int      // module versions
	SumDBs   []SumDBStats
	VulnDB   *VulnDBStats // the vulnerability database served, if any
	// MemoryHeld is what the view holds of Options.MemoryBytes whatever
	// clients ask (indexes, checksum database data) plus the frame
	// cache's bound; above MemoryBytes when the budget is too small for
	// the bundles (shareMemory warns). 0 without a budget.
	MemoryHeld int64
}

// Stats describes the view being served.
func (s *Server) Stats() Stats {
	v := s.cur.Load()
	st := Stats{Modules: len(v.mods), Versions: v.versions, SumDBs: v.sumdbStats(), VulnDB: v.vulnStats()}
	for _, b := range v.bundles {
		st.Bundles = append(st.Bundles, b.name)
	}
	for _, b := range v.bad {
		st.Bad = append(st.Bad, b.name+": "+b.err.Error())
	}
	if s.frames != nil {
		st.MemoryHeld = s.fixedMem.Load() + s.frames.Limit()
	}
	return st
}

// Reload re-reads the configured bundle paths and swaps in the new view;
// bundles that did not change are not reopened. On error the current view
// stays in place.
func (s *Server) Reload(ctx context.Context) error {
	return s.reload(ctx, true)
}

// reload rebuilds the view; unless force, only when the files changed and
// the same change did not fail before.
func (s *Server) reload(ctx context.Context, force bool) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.closed {
		return errors.New("serve: server closed")
	}
	old := s.cur.Load()
	files, sig, err := expand(s.opts.Bundles)
	if err != nil {
		sig = "\x00" + err.Error() // log the same failure once when polling
	}
	if !force && (sig == old.sig || sig == s.failSig) {
		return nil
	}
	var v *view
	if err == nil {
		v, err = buildView(ctx, files, sig, old, s)
	}
	if err != nil {
		s.failSig = sig
		s.metrics.reloadErrors.Add(1)
		s.log.Error("reload failed; still serving the previous bundles", "err", err)
		return err
	}
	s.failSig = ""
	s.shareMemory(v)
	s.cur.Store(v)
	old.release(s.log)
	s.metrics.reloads.Add(1)
	s.log.Info("bundles reloaded", "bundles", len(v.bundles), "bad", len(v.bad), "modules", len(v.mods), "versions", v.versions)
	return nil
}

// acquire returns the current view with a reference held for the caller.
func (s *Server) acquire() *view {
	for {
		v := s.cur.Load()
		v.refs.Add(1)
		if s.cur.Load() == v {
			return v
		}
		v.release(s.log) // swapped meanwhile: retry on the new one
	}
}

// Close releases the bundles; readers still used by requests in flight
// are closed when those end.
func (s *Server) Close() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cur.Load().release(s.log)
	s.misses.close()
	return nil
}

// Run serves HTTP (or HTTPS, per Options) on ln, at most
// Options.MaxConns connections at once, until ctx is done, then
// shuts down gracefully: it stops accepting, lets requests in flight
// finish (up to Options.ShutdownTimeout) and closes the bundles. While it
// runs, the bundle paths are polled for changes every
// Options.PollInterval.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	ln = newLimitListener(ln, s.opts.MaxConns)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.opts.TLSCertFile != "" {
			err = srv.ServeTLS(ln, s.opts.TLSCertFile, s.opts.TLSKeyFile)
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	pollDone := make(chan struct{})
	pollCtx, stopPoll := context.WithCancel(ctx)
	go func() {
		defer close(pollDone)
		s.poll(pollCtx)
	}()
	var err error
	select {
	case err = <-errc:
		stopPoll()
	case <-ctx.Done():
		stopPoll()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			srv.Close()
			err = fmt.Errorf("serve: shutdown: %w", err)
		} else if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
	}
	<-pollDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.Close()
	return err
}

// poll reloads when the bundle files change, until ctx is done.
func (s *Server) poll(ctx context.Context) {
	if s.opts.PollInterval <= 0 {
		return
	}
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reload(ctx, false) // logs its own errors
		}
	}
}
