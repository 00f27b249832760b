// Package latencymirror is a module mirror on loopback that answers every
// request after a fixed delay, as a mirror far away would: the bench
// measures create and the go command through it at 0 ms and 50 ms (issue
// 15), and script tests use it through the kit's `latency` command.
//
// It serves a GOPROXY file tree (module files under <escaped path>/@v/,
// checksum database files under sumdb/<name>/). With an upstream, a
// request the tree cannot answer is fetched from the upstream once and
// kept in the tree, its status too when it is 403, 404 or 410, so a first
// pass through the mirror records a project's real files and later passes
// are answered from the tree alone, each after the delay. Upstream errors
// (5xx, network) are passed on as 502 and never kept.
//
// # Layout of the tree
//
// A 200 answer for the URL path /P is the file P; a 403, 404 or 410 answer
// is the file P#CODE holding the body ('#' never appears in a URL path).
package latencymirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobundle/gobundle/internal/fsutil"
)

// Config configures a Mirror.
type Config struct {
	// Dir is the file tree served, and where upstream answers are kept.
	Dir string
	// Upstream is the base URL of a mirror to fetch what Dir lacks from;
	// "" serves Dir alone (a miss is 404).
	Upstream string
	// Delay is added before every answer.
	Delay time.Duration
	// Client fetches from Upstream; nil means a client with a 2-minute
	// timeout.
	Client *http.Client
}

// maxBody bounds one upstream answer kept in the tree (toolchain zips are
// under 200 MB).
const maxBody = 1 << 30

// Mirror is the HTTP handler.
type Mirror struct {
	cfg Config
	// Requests counts the requests answered, Fetches those that went
	// upstream.
	Requests, Fetches atomic.Int64
	acct              accounting
}

// New returns a Mirror serving cfg.Dir.
func New(cfg Config) (*Mirror, error) {
	if cfg.Dir == "" {
		return nil, errors.New("latencymirror: no directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o777); err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	cfg.Upstream = strings.TrimSuffix(cfg.Upstream, "/")
	return &Mirror{cfg: cfg}, nil
}

// kept are the statuses kept in the tree besides 200.
var kept = []int{http.StatusForbidden, http.StatusNotFound, http.StatusGone}

// ServeHTTP answers GET and HEAD from the tree, or the upstream, after the
// delay.
func (m *Mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.Requests.Add(1)
	defer m.acct.begin(r.URL.Path)()
	if m.cfg.Delay > 0 {
		t := time.NewTimer(m.cfg.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rel, ok := treePath(r.URL.Path)
	if !ok {
		http.Error(w, "bad path "+strconv.Quote(r.URL.Path), http.StatusBadRequest)
		return
	}
	status, body, err := m.lookup(rel)
	if errors.Is(err, fs.ErrNotExist) && m.cfg.Upstream != "" {
		status, body, err = m.fetch(r.Context(), rel, r.URL.RawPath)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.Error(w, "not in the mirror's tree: "+rel, http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if status == http.StatusOK {
		w.Header().Set("Content-Type", "application/octet-stream")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// treePath turns a URL path into a slash path inside the tree, refusing
// anything that is not a plain relative path.
func treePath(p string) (string, bool) {
	rel := strings.TrimPrefix(p, "/")
	if rel == "" || strings.HasSuffix(rel, "/") || path.Clean(rel) != rel || strings.Contains(rel, "#") ||
		strings.ContainsAny(rel, "\\\x00") || !fs.ValidPath(rel) {
		return "", false
	}
	return rel, true
}

// lookup reads the kept answer for rel.
func (m *Mirror) lookup(rel string) (int, []byte, error) {
	name := filepath.Join(m.cfg.Dir, filepath.FromSlash(rel))
	if data, err := os.ReadFile(name); err == nil {
		return http.StatusOK, data, nil
	} else if !errors.Is(err, fs.ErrNotExist) && !isNotDir(err) {
		return 0, nil, err
	}
	for _, code := range kept {
		if data, err := os.ReadFile(name + "#" + strconv.Itoa(code)); err == nil {
			return code, data, nil
		}
	}
	return 0, nil, fs.ErrNotExist
}

// isNotDir reports an error from a path whose parent is a file (a tile
// directory "x001" next to a file, say): nothing is kept there.
func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}

// fetch asks the upstream for rel and keeps a 200, 403, 404 or 410 answer.
func (m *Mirror) fetch(ctx context.Context, rel, rawPath string) (int, []byte, error) {
	m.Fetches.Add(1)
	u := m.cfg.Upstream + "/" + rel
	if rawPath != "" {
		u = m.cfg.Upstream + rawPath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("upstream: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, fmt.Errorf("upstream %s: %w", u, err)
	}
	if len(body) > maxBody {
		return 0, nil, fmt.Errorf("upstream %s: answer over %d bytes", u, maxBody)
	}
	name := filepath.Join(m.cfg.Dir, filepath.FromSlash(rel))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		name += "#" + strconv.Itoa(resp.StatusCode)
	default:
		return 0, nil, fmt.Errorf("upstream %s: %s", u, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o777); err != nil {
		return 0, nil, err
	}
	if err := fsutil.WriteFileAtomic(name, body); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// Server is a Mirror listening on 127.0.0.1.
type Server struct {
	*Mirror
	URL string
	srv *http.Server
	ln  net.Listener
}

// Start serves a new Mirror on a free loopback port until Close.
func Start(cfg Config) (*Server, error) {
	m, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Mirror: m, URL: "http://" + ln.Addr().String(), ln: ln,
		srv: &http.Server{Handler: m, ReadHeaderTimeout: time.Minute}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server: answers in flight get a moment to finish, then
// every connection is closed (http.Server.Shutdown alone waits 5 s for a
// connection a client opened and never used, as a transport with many
// requests queued leaves behind).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}
