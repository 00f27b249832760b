// Package fakeproxy is a fake upstream GOPROXY for tests: it serves a
// [fixtures.Set] over HTTP on 127.0.0.1 with the module proxy protocol,
// logs every request, can pass /sumdb/<name>/ requests to checksum
// databases, and misbehaves on demand (see [Fault]).
//
// # Protocol
//
// GET or HEAD of /<module>/@v/list (versions that are not pseudo-versions,
// 404 for a module it does not hold), /<module>/@v/<version>.info, .mod and
// .zip, and /<module>/@latest, with module paths and versions case-escaped
// as golang.org/x/mod/module does. Anything else is a 404 whose text body
// names what was asked. /sumdb/<name>/supported answers 200 for a mounted
// checksum database ([Server.MountSumDB]), and /sumdb/<name>/<rest> is
// passed to it as /<rest>.
package fakeproxy

import (
	"bufio"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"golang.org/x/mod/module"
)

// A Request is one logged request.
type Request struct {
	Seq      int
	Method   string
	Path     string // URL path, %-decoded: module paths keep their !-escapes
	Status   int    // status sent (200 for reset, truncate and corrupt)
	Fault    Kind   // fault applied, or ""
	Bytes    int    // body bytes written
	Duration time.Duration
	Done     bool // the answer is complete (Bytes and Duration are final)
}

// String formats r as one log line: "GET /path 200" plus " fault=KIND".
func (r Request) String() string {
	s := fmt.Sprintf("%s %s %d", r.Method, r.Path, r.Status)
	if r.Fault != "" {
		s += " fault=" + string(r.Fault)
	}
	return s
}

// A Server is a running fake proxy.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT, usable as GOPROXY.
	URL string

	set  *fixtures.Set
	seed uint64
	srv  *httptest.Server

	mu     sync.Mutex
	auth   string // "user:password" required by basic auth, or ""
	faults []*faultState
	log    []Request
	sumdbs map[string]http.Handler
}

// New returns an unstarted proxy over set; seed drives random faults.
// Use [Server.Handler] to serve it yourself, or [Start].
func New(set *fixtures.Set, seed uint64) *Server {
	return &Server{set: set, seed: seed, sumdbs: map[string]http.Handler{}}
}

// Start starts a proxy over set on 127.0.0.1.
func Start(set *fixtures.Set, seed uint64) *Server {
	s := New(set, seed)
	s.srv = httptest.NewServer(s.Handler())
	s.URL = s.srv.URL
	return s
}

// StartTLS starts a proxy over set on 127.0.0.1 with HTTPS, using the
// net/http/httptest certificate (valid for 127.0.0.1); clients trust it
// through [Server.CertPEM] (the go command: SSL_CERT_FILE).
func StartTLS(set *fixtures.Set, seed uint64) *Server {
	s := New(set, seed)
	s.srv = httptest.NewTLSServer(s.Handler())
	s.URL = s.srv.URL
	return s
}

// CertPEM returns the PEM certificate of a proxy started with [StartTLS],
// or nil.
func (s *Server) CertPEM() []byte {
	if s.srv == nil || s.srv.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Close stops the server, cutting open connections.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.CloseClientConnections()
		s.srv.Close()
	}
}

// RequireAuth makes the proxy answer 401 Unauthorized (logged as such) to
// every request without HTTP basic auth user and password; "" for both
// turns it off. Credentials are never logged.
func (s *Server) RequireAuth(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = ""
	if user != "" || password != "" {
		s.auth = user + ":" + password
	}
}

// Set returns the module versions the proxy serves.
func (s *Server) Set() *fixtures.Set { return s.set }

// AddFault adds a fault; faults are tried in the order added and the first
// that applies to a request wins.
func (s *Server) AddFault(f Fault) error {
	if _, err := ParseKind(string(f.Kind)); err != nil {
		return err
	}
	re, err := globRegexp(f.pattern())
	if err != nil {
		return fmt.Errorf("fakeproxy: fault pattern %q: %w", f.Pattern, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, index: len(s.faults), re: re, seen: map[string]int{}})
	return nil
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Faults returns the faults added so far.
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Fault
	for _, f := range s.faults {
		out = append(out, f.Fault)
	}
	return out
}

// Requests returns the request log, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Count returns how many logged requests have a path matching the glob
// pattern (see [Fault]).
func (s *Server) Count(pattern string) int {
	re, err := globRegexp(pattern)
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range s.Requests() {
		if re.MatchString(r.Path) {
			n++
		}
	}
	return n
}

// ResetLog empties the request log.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// MountSumDB serves checksum database h under /sumdb/<name>/, and answers
// /sumdb/<name>/supported.
func (s *Server) MountSumDB(name string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sumdbs[name] = h
}

// response is an answer before faults are applied.
type response struct {
	status int
	ctype  string
	body   []byte
}

func textResponse(status int, format string, args ...any) response {
	return response{status: status, ctype: "text/plain; charset=utf-8", body: fmt.Appendf(nil, format+"\n", args...)}
}

// Handler returns the proxy's HTTP handler.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p := r.URL.Path
	s.mu.Lock()
	auth := s.auth
	s.mu.Unlock()
	var resp response
	var d decision
	faulted := false
	if u, pw, ok := r.BasicAuth(); auth != "" && (!ok || u+":"+pw != auth) {
		w.Header().Set("WWW-Authenticate", `Basic realm="fakeproxy"`)
		resp = textResponse(http.StatusUnauthorized, "fakeproxy: unauthorized")
	} else {
		s.mu.Lock()
		d, faulted = decide(s.seed, s.faults, p)
		s.mu.Unlock()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			resp = textResponse(http.StatusMethodNotAllowed, "fakeproxy: method %s not allowed", r.Method)
		} else {
			resp = s.answer(r)
		}
	}
	if faulted {
		resp = alter(resp, d, r.URL.Path)
	}
	// Log the request before answering, so that a client that has read the
	// answer always finds it in the log; Bytes, Duration and Done follow.
	entry := Request{Method: r.Method, Path: p, Status: resp.status}
	if faulted {
		entry.Fault = d.kind
	}
	s.mu.Lock()
	i := len(s.log)
	entry.Seq = i + 1
	s.log = append(s.log, entry)
	s.mu.Unlock()
	n, status := s.write(w, r, resp, d, faulted)
	s.mu.Lock()
	if i < len(s.log) && s.log[i].Seq == entry.Seq {
		s.log[i].Bytes, s.log[i].Status, s.log[i].Duration, s.log[i].Done = n, status, time.Since(start), true
	}
	s.mu.Unlock()
}

// answer answers r by the protocol.
func (s *Server) answer(r *http.Request) response {
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/sumdb/"); ok {
		name, sub, _ := strings.Cut(rest, "/")
		s.mu.Lock()
		h := s.sumdbs[name]
		s.mu.Unlock()
		if h == nil {
			return textResponse(http.StatusNotFound, "fakeproxy: no checksum database %q here", name)
		}
		if sub == "supported" {
			return response{status: http.StatusOK, ctype: "text/plain; charset=utf-8"}
		}
		rec := httptest.NewRecorder()
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + sub
		r2.URL.RawPath = ""
		h.ServeHTTP(rec, r2)
		return response{status: rec.Code, ctype: rec.Header().Get("Content-Type"), body: rec.Body.Bytes()}
	}
	p = strings.TrimPrefix(p, "/")
	if enc, ok := strings.CutSuffix(p, "/@latest"); ok {
		path, err := module.UnescapePath(enc)
		if err != nil {
			return textResponse(http.StatusNotFound, "not found: %s: %v", enc, err)
		}
		m, ok := s.set.Latest(path)
		if !ok {
			return textResponse(http.StatusNotFound, "not found: module %s: no versions in the fake upstream", path)
		}
		return response{status: http.StatusOK, ctype: "application/json", body: m.Info()}
	}
	enc, file, ok := strings.Cut(p, "/@v/")
	if !ok {
		return textResponse(http.StatusNotFound, "not found: %s is not a module proxy path", r.URL.Path)
	}
	path, err := module.UnescapePath(enc)
	if err != nil {
		return textResponse(http.StatusNotFound, "not found: %s: %v", enc, err)
	}
	if file == "list" {
		if len(s.set.Versions(path)) == 0 {
			return textResponse(http.StatusNotFound, "not found: module %s: no versions in the fake upstream", path)
		}
		var b strings.Builder
		for _, v := range s.set.ListVersions(path) {
			b.WriteString(v + "\n")
		}
		return response{status: http.StatusOK, ctype: "text/plain; charset=utf-8", body: []byte(b.String())}
	}
	ext := file[strings.LastIndex(file, ".")+1:]
	encVers := strings.TrimSuffix(file, "."+ext)
	vers, err := module.UnescapeVersion(encVers)
	if err != nil || (ext != "info" && ext != "mod" && ext != "zip") {
		return textResponse(http.StatusNotFound, "not found: %s is not a module proxy path", r.URL.Path)
	}
	m, ok := s.set.Lookup(path, vers)
	if !ok {
		return textResponse(http.StatusNotFound, "not found: %s@%s: unknown revision %s (not in the fake upstream)", path, vers, vers)
	}
	switch ext {
	case "info":
		return response{status: http.StatusOK, ctype: "application/json", body: m.Info()}
	case "mod":
		return response{status: http.StatusOK, ctype: "text/plain; charset=utf-8", body: m.Mod()}
	default:
		data, err := m.Zip()
		if err != nil {
			return textResponse(http.StatusInternalServerError, "fakeproxy: %v", err)
		}
		return response{status: http.StatusOK, ctype: "application/zip", body: data}
	}
}

// alter applies the faults that change the answer itself: an error status
// or a flipped byte.
func alter(resp response, d decision, path string) response {
	switch d.kind {
	case NotFound, Gone, Forbidden, ServerError, LatestNotFound:
		code := http.StatusNotFound
		if d.kind != LatestNotFound {
			code, _ = strconv.Atoi(string(d.kind))
		}
		return textResponse(code, "fakeproxy: injected fault %s for %s", d.kind, path)
	case Corrupt:
		body := append([]byte(nil), resp.body...)
		if len(body) == 0 {
			body = []byte{'!'}
		} else {
			body[d.rng.IntN(len(body))] ^= 0xff
		}
		resp.body = body
	}
	return resp
}

// write sends resp, applying the transport fault d (latency, reset,
// truncate, trickle) if faulted, and returns the body bytes written and the
// status sent.
func (s *Server) write(w http.ResponseWriter, r *http.Request, resp response, d decision, faulted bool) (int, int) {
	head := r.Method == http.MethodHead
	if faulted && d.kind == Latency {
		delay := d.fault.Delay
		if delay <= 0 {
			delay = 200 * time.Millisecond
		}
		if sleep(r.Context(), delay) != nil {
			return 0, 0
		}
	}
	if faulted && !head {
		switch d.kind {
		case Reset, Truncate:
			return s.cut(w, resp, d.kind == Reset)
		case Trickle:
			return s.trickle(w, r, resp, d.fault)
		}
	}
	h := w.Header()
	h.Set("Content-Type", resp.ctype)
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	if head {
		return 0, resp.status
	}
	n, _ := w.Write(resp.body)
	return n, resp.status
}

// cut sends the headers of resp with its full Content-Length and half its
// body, then closes the connection: with a TCP reset if reset, else
// cleanly.
func (s *Server) cut(w http.ResponseWriter, resp response, reset bool) (int, int) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "fakeproxy: cannot hijack", http.StatusInternalServerError)
		return 0, http.StatusInternalServerError
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return 0, 0
	}
	defer conn.Close()
	half := resp.body[:len(resp.body)/2]
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		resp.status, http.StatusText(resp.status), resp.ctype, len(resp.body))
	bw.Write(half)
	bw.Flush()
	_ = buf
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		if reset {
			tc.SetLinger(0)
		} else {
			tc.CloseWrite()
		}
	}
	return len(half), resp.status
}

// trickle sends resp in small pieces with pauses.
func (s *Server) trickle(w http.ResponseWriter, r *http.Request, resp response, f *faultState) (int, int) {
	chunk, delay := f.Chunk, f.Delay
	if chunk <= 0 {
		chunk = 256
	}
	if delay <= 0 {
		delay = 5 * time.Millisecond
	}
	h := w.Header()
	h.Set("Content-Type", resp.ctype)
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	rc := http.NewResponseController(w)
	n := 0
	for body := resp.body; len(body) > 0; {
		k := min(chunk, len(body))
		m, err := w.Write(body[:k])
		n += m
		if err != nil || rc.Flush() != nil {
			return n, resp.status
		}
		body = body[k:]
		if len(body) > 0 && sleep(r.Context(), delay) != nil {
			return n, resp.status
		}
	}
	return n, resp.status
}
