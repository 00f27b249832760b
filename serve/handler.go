package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/gotoolchain"
)

const (
	// maxPathLen bounds request paths; longer ones are answered 400.
	maxPathLen = 2048
	// smallFile is the size up to which a file is read and checked whole
	// before its first byte is sent. Larger ones are checked while sent.
	smallFile = 1 << 20
	// hotLimit bounds the bytes of .info and .mod files a view keeps in
	// memory.
	hotLimit = 32 << 20
)

// headerValues are header values shared by all responses of a server;
// net/http never modifies them.
type headerValues struct {
	json, text, zip, prom, noCache, nosniff, octet []string
}

func newHeaderValues() headerValues {
	return headerValues{
		json:    []string{"application/json"},
		text:    []string{"text/plain; charset=utf-8"},
		zip:     []string{"application/zip"},
		prom:    []string{"text/plain; version=0.0.4; charset=utf-8"},
		noCache: []string{"no-store"},
		nosniff: []string{"nosniff"},
		octet:   []string{"application/octet-stream"},
	}
}

// statusWriter records the status and body size of a response. With hold
// set, it keeps the status back until the first body byte, so a response
// whose content fails its check before anything was sent can still become
// a clean error.
type statusWriter struct {
	w         http.ResponseWriter
	timeout   time.Duration // per write, 0 for none
	status    int
	n         int64
	hold      bool
	committed bool
}

func (sw *statusWriter) Header() http.Header { return sw.w.Header() }

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status != 0 && sw.status >= 200 {
		return
	}
	sw.status = code
	if !sw.hold || code < 200 {
		sw.commit()
	}
}

func (sw *statusWriter) commit() {
	if sw.committed {
		return
	}
	sw.committed = true
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	sw.w.WriteHeader(sw.status)
}

func (sw *statusWriter) Write(p []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	sw.commit()
	sw.extendDeadline()
	n, err := sw.w.Write(p)
	sw.n += int64(n)
	return n, err
}

// extendDeadline gives the next write the timeout from now: a deadline
// per write, not per response, so a long download to a slow but reading
// client goes on and a client that stopped reading is cut off. (Test
// recorders do not support deadlines.)
func (sw *statusWriter) extendDeadline() {
	if sw.timeout > 0 {
		http.NewResponseController(sw.w).SetWriteDeadline(time.Now().Add(sw.timeout))
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.w }

// request is the parsed form of a GOPROXY request path.
type request struct {
	kind   reqKind
	escMod string
	escVer string
	file   bundle.FileKind
}

// parsePath splits a request path. ok is false for paths that are not part
// of the protocol.
func parsePath(p string) (req request, ok bool) {
	switch {
	case p == "/healthz":
		return request{kind: kindHealth}, true
	case p == "/metrics":
		return request{kind: kindMetrics}, true
	case p == "/-/misses":
		return request{kind: kindMisses}, true
	case p == "/vulndb" || strings.HasPrefix(p, "/vulndb/"):
		return request{kind: kindVulndb}, true
	case strings.HasPrefix(p, "/sumdb/"):
		return request{kind: kindSumdb}, true
	case len(p) < 2 || p[0] != '/':
		return request{}, false
	}
	p = p[1:]
	if i := strings.Index(p, "/@v/"); i > 0 {
		req.escMod, p = p[:i], p[i+len("/@v/"):]
		if p == "list" {
			req.kind = kindList
			return req, true
		}
		dot := strings.LastIndexByte(p, '.')
		if dot <= 0 || strings.IndexByte(p, '/') >= 0 {
			return req, false
		}
		req.escVer = p[:dot]
		switch p[dot+1:] {
		case "info":
			req.kind, req.file = kindInfo, bundle.KindInfo
		case "mod":
			req.kind, req.file = kindMod, bundle.KindMod
		case "zip":
			req.kind, req.file = kindZip, bundle.KindZip
		default:
			return req, false
		}
		return req, true
	}
	if mod, found := strings.CutSuffix(p, "/@latest"); found && mod != "" {
		return request{kind: kindLatest, escMod: mod}, true
	}
	return req, false
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.metrics.inFlight.Add(1)
	sw, _ := s.writers.Get().(*statusWriter)
	if sw == nil {
		sw = new(statusWriter)
	}
	*sw = statusWriter{w: w, timeout: s.opts.WriteTimeout}
	sw.extendDeadline() // a kept-alive connection may carry an old one
	defer func() {
		*sw = statusWriter{}
		s.writers.Put(sw)
	}()
	kind, abort := s.serve(sw, r)
	s.metrics.inFlight.Add(-1)
	d := time.Since(start)
	code := sw.status
	if code == 0 {
		code = http.StatusOK
	}
	mcode := code
	if abort {
		mcode = http.StatusInternalServerError
	}
	s.metrics.observe(kind, mcode, sw.n, d)
	if s.opts.AccessLog {
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", logPath(r.URL.Path)),
			slog.Int("status", code),
			slog.Int64("bytes", sw.n),
			slog.Duration("duration", d),
			slog.String("remote", r.RemoteAddr),
		}
		if abort {
			attrs = append(attrs, slog.Bool("aborted", true))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	}
	if abort {
		// The status line went out already: break the transfer so the
		// client never takes what it got for a complete, good file.
		panic(http.ErrAbortHandler)
	}
}

// logPath shortens over-long request paths for the access log.
func logPath(p string) string {
	if len(p) > 512 {
		return p[:512] + "..."
	}
	return p
}

// serve answers r; abort reports that the response must be broken off.
func (s *Server) serve(w *statusWriter, r *http.Request) (kind reqKind, abort bool) {
	p := r.URL.Path
	if len(p) > maxPathLen {
		s.plain(w, http.StatusBadRequest, "bad request: path longer than %d bytes", maxPathLen)
		return kindOther, false
	}
	req, ok := parsePath(p)
	r = oneRange(r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.plain(w, http.StatusMethodNotAllowed, "method %s not allowed: this GOPROXY is read-only (GET and HEAD only)", r.Method)
		return req.kind, false
	}
	if !ok {
		s.plain(w, http.StatusNotFound, "not found: %s is not a GOPROXY protocol path (MODULE/@v/list, MODULE/@v/VERSION.info|.mod|.zip, MODULE/@latest)", p)
		return kindOther, false
	}
	switch req.kind {
	case kindHealth:
		s.serveHealth(w)
		return req.kind, false
	case kindMetrics:
		s.serveMetrics(w, r)
		return req.kind, false
	case kindSumdb:
		v := s.acquire()
		defer v.release(s.log)
		s.serveSumdb(w, r, v, p)
		return req.kind, false
	case kindMisses:
		s.serveMisses(w, r)
		return req.kind, false
	case kindVulndb:
		v := s.acquire()
		defer v.release(s.log)
		return req.kind, s.serveVulndb(w, r, v, strings.TrimPrefix(strings.TrimPrefix(p, "/vulndb"), "/"))
	}
	v := s.acquire()
	defer v.release(s.log)
	return req.kind, s.serveModule(w, r, v, req)
}

// serveHealth answers /healthz: ok, or degraded (still 200) naming the
// bundles skipped as bad.
func (s *Server) serveHealth(w *statusWriter) {
	v := s.acquire()
	defer v.release(s.log)
	w.Header()["Cache-Control"] = s.hdr.noCache
	if len(v.bad) == 0 {
		s.plain(w, http.StatusOK, "ok: %s, %s", plural(len(v.bundles), "bundle", "bundles"), plural(v.versions, "module version", "module versions"))
		return
	}
	// Still serving the good ones (200), but the operator must hear
	// of the bad ones.
	var b strings.Builder
	fmt.Fprintf(&b, "degraded: %s, %s; skipped %s:", plural(len(v.bundles), "bundle", "bundles"),
		plural(v.versions, "module version", "module versions"), plural(len(v.bad), "bad bundle", "bad bundles"))
	for _, bad := range v.bad {
		fmt.Fprintf(&b, "\n%s: %v", filepath.Base(bad.name), bad.err)
	}
	s.plain(w, http.StatusOK, "%s", b.String())
}

// serveMetrics answers /metrics.
func (s *Server) serveMetrics(w *statusWriter, r *http.Request) {
	v := s.acquire()
	nb, nv, nm := len(v.bundles), v.versions, v.missingBase()
	var bad []string
	untrusted := 0
	for _, b := range v.bad {
		bad = append(bad, filepath.Base(b.name))
		if b.untrusted {
			untrusted++
		}
	}
	v.release(s.log)
	h := w.Header()
	h["Content-Type"] = s.hdr.prom
	h["Cache-Control"] = s.hdr.noCache
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		s.metrics.write(w, nb, nv, bad, nm, untrusted, s.misses)
		writeFrameMetrics(w, s.frames, s.opts.MemoryBytes, s.fixedMem.Load())
	}
}

// serveModule answers a module's list, @latest or file request from the
// view v; abort reports that the response must be broken off.
func (s *Server) serveModule(w *statusWriter, r *http.Request, v *view, req request) (abort bool) {
	me := v.mods[req.escMod]
	if me == nil {
		path, err := module.UnescapePath(req.escMod)
		if err != nil {
			s.plain(w, http.StatusBadRequest, "bad request: %v", err)
			return false
		}
		s.recordMiss(req, path)
		if gotoolchain.IsModule(path) {
			s.notFound(w, "%s", v.toolchainMiss(toolchainVersion(req)))
			return false
		}
		s.notFound(w, "not found: module %s is not in the loaded bundles (%s)", path, v.names)
		return false
	}
	switch req.kind {
	case kindList:
		body, tag := me.listBody()
		s.sendBytes(w, r, body, tag, s.hdr.text, s.listAgeHdr)
		return false
	case kindLatest:
		body, tag, ok, err := me.latestBody(r.Context())
		if err != nil {
			s.readError(w, me.path+"@latest", err)
			return false
		}
		if !ok {
			s.misses.record(kindLatest, me.path, "")
			s.notFound(w, "not found: module %s has no version with an .info file in the loaded bundles (%s)", me.path, v.names)
			return false
		}
		s.sendBytes(w, r, body, tag, s.hdr.json, s.listAgeHdr)
		return false
	}
	mv := me.versions[req.escVer]
	if mv == nil {
		ver, err := module.UnescapeVersion(req.escVer)
		if err != nil {
			s.plain(w, http.StatusBadRequest, "bad request: %s: %v", me.path, err)
			return false
		}
		if gotoolchain.IsModule(me.path) {
			s.notFound(w, "%s", v.toolchainMiss(ver))
			return false
		}
		s.misses.record(req.kind, me.path, ver)
		s.notFound(w, "not found: %s@%s is not in the loaded bundles (%s)", me.path, ver, v.names)
		return false
	}
	loc := mv.loc(req.file)
	if !loc.ok() {
		s.misses.record(req.kind, me.path, mv.version)
		s.notFound(w, "not found: %s@%s.%s is not in the loaded bundles (%s), which hold only some files of this version", me.path, mv.version, req.file, v.names)
		return false
	}
	return s.sendFile(w, r, v, me.path, mv, req.file, loc)
}

// recordMiss records a miss of a module not in the view.
func (s *Server) recordMiss(req request, path string) {
	ver := ""
	if req.kind != kindList && req.kind != kindLatest {
		var err error
		if ver, err = module.UnescapeVersion(req.escVer); err != nil {
			return
		}
	}
	s.misses.record(req.kind, path, ver)
}

// contentType is the Content-Type header of a module file.
func (s *Server) contentType(kind bundle.FileKind) []string {
	switch kind {
	case bundle.KindInfo:
		return s.hdr.json
	case bundle.KindMod:
		return s.hdr.text
	}
	return s.hdr.zip
}

// sendFile sends one module file, checked against the bundle's checksums
// before (small files) or while (large ones) it is sent. Small .info and
// .mod files are kept in memory once read and checked again each time.
func (s *Server) sendFile(w *statusWriter, r *http.Request, v *view, path string, mv *modVersion, kind bundle.FileKind, loc *fileLoc) (abort bool) {
	h := w.Header()
	h["Content-Type"] = s.contentType(kind)
	h["Cache-Control"] = s.maxAgeHdr
	// Responses name the bundle by its base name: its directory is the
	// server's business (logs carry the full path, in the errors).
	what := func() string {
		return path + "@" + mv.version + "." + kind.String() + " in " + filepath.Base(loc.b.name)
	}
	fi := loc.fi
	if kind == bundle.KindZip && loc.stored != nil {
		if s.zips != nil {
			if handled, abort := s.sendCachedZip(w, r, path, mv, loc, what); handled {
				return abort
			}
		}
		// Not made here: the stored zip, checked against its own sha256.
		fi = loc.stored
	}
	var hf *hotFile
	if kind != bundle.KindZip {
		hf = loc.hot.Load()
	}
	var etagHdr []string
	if hf != nil {
		etagHdr = hf.etag
	} else {
		etagHdr = []string{etag(fi.SHA256)}
	}
	h["Etag"] = etagHdr
	if notModified(w, r, etagHdr[0]) {
		return false
	}
	if hf != nil {
		if sha256.Sum256(hf.data) == loc.fi.SHA256 {
			sendData(w, r, hf.data, hf.clen)
			return false
		}
		// Memory went bad: forget the copy and read the bundle again.
		if loc.hot.CompareAndSwap(hf, nil) {
			v.hotBytes.Add(-int64(len(hf.data)))
		}
		s.logReadError(what()+" (in-memory copy)", fmt.Errorf("sha256 mismatch: %w", bundle.ErrCorrupt), false)
	}

	f, err := loc.b.src.OpenFile(r.Context(), path, mv.version, kind)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.notFound(w, "not found: %s", what())
			return false
		}
		s.readError(w, what(), err)
		return false
	}
	defer f.Close()

	size := f.Size()
	if size <= smallFile {
		buf := make([]byte, size)
		n, err := f.ReadAt(buf, 0)
		if n == len(buf) {
			err = nil
		} else if err == nil {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			s.readError(w, what(), err)
			return false
		}
		clen := []string{strconv.Itoa(len(buf))}
		if kind != bundle.KindZip && v.hotBytes.Add(size) <= hotLimit {
			if !loc.hot.CompareAndSwap(nil, &hotFile{data: buf, etag: etagHdr, clen: clen}) {
				v.hotBytes.Add(-size)
			}
		}
		sendData(w, r, buf, clen)
		return false
	}

	w.hold = true
	cr := &checkedReader{f: f}
	http.ServeContent(w, r, "", time.Time{}, cr)
	if cr.err == nil {
		w.commit()
		return false
	}
	if !w.committed {
		for _, k := range []string{"Content-Length", "Content-Range", "Etag", "Accept-Ranges", "Cache-Control"} {
			delete(h, k)
		}
		w.status = 0
		w.hold = false
		s.readError(w, what(), cr.err)
		return false
	}
	s.logReadError(what(), cr.err, true)
	return true
}

// maxRangeHeader bounds the Range header honoured.
const maxRangeHeader = 128

// oneRange returns r without its Range header when it asks for several
// ranges (or is longer than maxRangeHeader): such a request is answered
// with the whole file, as RFC 9110 allows. Several ranges would be read by
// a goroutine of http.ServeContent that may outlive the handler, and a
// crafted list of thousands of overlapping ranges makes a small file a
// large answer. The go command asks for no ranges at all.
func oneRange(r *http.Request) *http.Request {
	v, ok := r.Header["Range"]
	if !ok || (len(v) == 1 && len(v[0]) <= maxRangeHeader && !strings.Contains(v[0], ",")) {
		return r
	}
	r = r.Clone(r.Context())
	r.Header.Del("Range")
	return r
}

// sendData sends a checked file whose headers are set, clen being its
// Content-Length.
func sendData(w *statusWriter, r *http.Request, data []byte, clen []string) {
	if _, ranged := r.Header["Range"]; ranged {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
		return
	}
	w.Header()["Content-Length"] = clen
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// sendBytes sends body, already checked. ctype and cache, when not nil,
// set those headers; tag, when not empty, the ETag.
func (s *Server) sendBytes(w *statusWriter, r *http.Request, body []byte, tag string, ctype, cache []string) {
	h := w.Header()
	if ctype != nil {
		h["Content-Type"] = ctype
	}
	if cache != nil {
		h["Cache-Control"] = cache
	}
	if tag != "" {
		h["Etag"] = []string{tag}
		if notModified(w, r, tag) {
			return
		}
	}
	if _, ranged := r.Header["Range"]; ranged {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// notModified answers 304 when the request's If-None-Match names tag.
func notModified(w *statusWriter, r *http.Request, tag string) bool {
	inm := r.Header.Get("If-None-Match")
	if inm == "" || !etagListMatches(inm, tag) {
		return false
	}
	h := w.Header()
	delete(h, "Content-Type")
	delete(h, "Content-Length")
	w.WriteHeader(http.StatusNotModified)
	return true
}

// etagListMatches reports whether the If-None-Match list matches tag
// (weak comparison, as RFC 9110 asks for If-None-Match).
func etagListMatches(list, tag string) bool {
	for list != "" {
		var item string
		item, list, _ = strings.Cut(list, ",")
		item = strings.TrimSpace(item)
		if item == "*" || strings.TrimPrefix(item, "W/") == tag {
			return true
		}
	}
	return false
}

// checkedReader remembers the first read error of f, which would otherwise
// be lost inside http.ServeContent.
type checkedReader struct {
	f   file
	err error
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

func (c *checkedReader) Seek(off int64, whence int) (int64, error) {
	n, err := c.f.Seek(off, whence)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// readError answers a failure to read what from a bundle: 500, and the
// problem logged. Corrupt content is counted.
func (s *Server) readError(w *statusWriter, what string, err error) {
	w.Header()["Cache-Control"] = s.hdr.noCache
	if errors.Is(err, context.Canceled) {
		s.plain(w, http.StatusServiceUnavailable, "request canceled")
		return
	}
	s.logReadError(what, err, false)
	if errors.Is(err, bundle.ErrCorrupt) {
		s.plain(w, http.StatusInternalServerError, "internal error: %s: bundle content failed its checksum; not served (see the server log)", what)
		return
	}
	s.plain(w, http.StatusInternalServerError, "internal error: reading %s failed (see the server log)", what)
}

func (s *Server) logReadError(what string, err error, aborted bool) {
	if errors.Is(err, bundle.ErrCorrupt) {
		s.metrics.corrupt.Add(1)
		s.log.Error("corrupt bundle content refused", "entry", what, "aborted", aborted, "err", err)
		return
	}
	s.log.Error("reading bundle", "entry", what, "aborted", aborted, "err", err)
}

// notFound answers 404 with a short-lived Cache-Control, as the answer
// changes when bundles are added.
func (s *Server) notFound(w *statusWriter, format string, args ...any) {
	w.Header()["Cache-Control"] = s.listAgeHdr
	s.plain(w, http.StatusNotFound, format, args...)
}

// plain writes a one-line plain-text response.
func (s *Server) plain(w *statusWriter, code int, format string, args ...any) {
	h := w.Header()
	h["Content-Type"] = s.hdr.text
	h["X-Content-Type-Options"] = s.hdr.nosniff
	delete(h, "Etag")
	msg := fmt.Sprintf(format, args...) + "\n"
	h["Content-Length"] = []string{strconv.Itoa(len(msg))}
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

// plural returns "1 one" or "n many".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
