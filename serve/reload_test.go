package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobundle/gobundle/bundle"
)

// trackedSource records whether its bundle was closed and, when gate is
// set, holds reads of zips past the first 64 KiB until gate is closed.
type trackedSource struct {
	source
	closed  atomic.Bool
	gate    chan struct{}
	reached chan struct{} // closed when a read waits at the gate
	once    sync.Once
}

func (s *trackedSource) OpenFile(ctx context.Context, path, version string, kind bundle.FileKind) (file, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("%s: OpenFile after Close", path)
	}
	f, err := s.source.OpenFile(ctx, path, version, kind)
	if err != nil || s.gate == nil || kind != bundle.KindZip {
		return f, err
	}
	return &gatedFile{file: f, s: s}, nil
}

func (s *trackedSource) Close() error {
	s.closed.Store(true)
	return s.source.Close()
}

type gatedFile struct {
	file
	s   *trackedSource
	pos int64
}

func (f *gatedFile) Read(p []byte) (int, error) {
	if f.pos >= 64<<10 {
		f.s.once.Do(func() { close(f.s.reached) })
		<-f.s.gate
	}
	if f.s.closed.Load() {
		return 0, fmt.Errorf("read after the bundle was closed")
	}
	n, err := f.file.Read(p)
	f.pos += int64(n)
	return n, err
}

// trackingOpener opens real bundles, remembering them by base name; the
// bundle named gated gets a gate.
type trackingOpener struct {
	mu      sync.Mutex
	opened  map[string][]*trackedSource
	gated   string
	gate    chan struct{}
	reached chan struct{}
}

func (o *trackingOpener) open(ctx context.Context, name string) (source, error) {
	src, err := openReader(ctx, name, 0, nil, false)
	if err != nil {
		return nil, err
	}
	ts := &trackedSource{source: src}
	if filepath.Base(name) == o.gated {
		ts.gate, ts.reached = o.gate, o.reached
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.opened == nil {
		o.opened = make(map[string][]*trackedSource)
	}
	o.opened[filepath.Base(name)] = append(o.opened[filepath.Base(name)], ts)
	return ts, nil
}

func (o *trackingOpener) get(base string) []*trackedSource {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opened[base]
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func bigMod(path string) testMod {
	files := map[string]string{"go.mod": "module " + path + "\n"}
	for i := range 4 {
		files[fmt.Sprintf("f%d.bin", i)] = randomText(512 << 10)
	}
	return testMod{path: path, version: "v1.0.0", files: files}
}

// TestReloadDuringDownload removes the bundle a download is reading from
// and reloads in the middle of the transfer: the download completes with
// the right bytes, the new bundle is served afterwards, and the old reader
// is closed only once the download is over.
func TestReloadDuringDownload(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.gobundle")
	big := bigMod("example.com/big")
	writeBundle(t, a, 256<<10, big)
	b := filepath.Join(t.TempDir(), "b.gobundle")
	writeBundle(t, b, 0, testMod{path: "example.com/new", version: "v1.0.0"})

	o := &trackingOpener{gated: "a.gobundle", gate: make(chan struct{}), reached: make(chan struct{})}
	logs := new(logBuffer)
	s, err := newServer(context.Background(), Options{Bundles: []string{dir}, Logger: slog.New(slog.NewTextHandler(logs, nil))}, o.open)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()

	url := ts.URL + "/example.com/big/@v/v1.0.0.zip"
	type result struct {
		body []byte
		err  error
		resp *http.Response
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		done <- result{body, err, resp}
	}()
	<-o.reached // the download is under way, held at the gate

	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(b, filepath.Join(dir, "b.gobundle")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); len(st.Bundles) != 1 || filepath.Base(st.Bundles[0]) != "b.gobundle" {
		t.Fatalf("after reload serving %v", st.Bundles)
	}
	// New requests see the new view while the old download goes on.
	resp, body := mustGet(t, "GET", ts.URL+"/example.com/new/@v/v1.0.0.mod")
	if resp.StatusCode != 200 || string(body) != "module example.com/new\n" {
		t.Errorf("new bundle after reload: %d %q", resp.StatusCode, body)
	}
	resp, _ = mustGet(t, "GET", url)
	if resp.StatusCode != 404 {
		t.Errorf("removed bundle after reload: %d", resp.StatusCode)
	}
	if o.get("a.gobundle")[0].closed.Load() {
		t.Fatal("old bundle closed while a download was reading it")
	}

	close(o.gate)
	r := <-done
	if r.err != nil {
		t.Fatalf("download across reload: %v", r.err)
	}
	want := zipHash(t, mustRead(t, writeZip(t, t.TempDir(), big)))
	if r.resp.StatusCode != 200 || int64(len(r.body)) != r.resp.ContentLength || zipHash(t, r.body) != want {
		t.Fatalf("download across reload: %d, %d of %d bytes", r.resp.StatusCode, len(r.body), r.resp.ContentLength)
	}
	waitFor(t, "the old bundle to be closed", func() bool { return o.get("a.gobundle")[0].closed.Load() })
	if n := len(o.get("b.gobundle")); n != 1 {
		t.Errorf("b.gobundle opened %d times", n)
	}
	if !strings.Contains(logs.String(), "bundles reloaded") {
		t.Errorf("reload not logged:\n%s", logs)
	}
}

// TestPollPicksUpNewBundle drops a bundle into a served directory and
// waits for the poller to serve it; a broken file dropped next is refused
// without disturbing the view.
func TestPollPicksUpNewBundle(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, filepath.Join(dir, "a.gobundle"), 0, testMod{path: "example.com/a", version: "v1.0.0"})
	s, ts, logs := startServer(t, Options{Bundles: []string{dir}, PollInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.poll(ctx)

	resp, _ := mustGet(t, "GET", ts.URL+"/example.com/b/@v/list")
	if resp.StatusCode != 404 {
		t.Fatalf("b before it is dropped in: %d", resp.StatusCode)
	}
	// Ignored: hidden files and other extensions.
	os.WriteFile(filepath.Join(dir, ".partial.gobundle"), []byte("junk"), 0o666)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("junk"), 0o666)
	writeBundle(t, filepath.Join(dir, "b.gobundle"), 0, testMod{path: "example.com/b", version: "v1.0.0"})
	waitFor(t, "the new bundle to be served", func() bool {
		resp, _ := mustGet(t, "GET", ts.URL+"/example.com/b/@v/list")
		return resp.StatusCode == 200
	})
	resp, body := mustGet(t, "GET", ts.URL+"/example.com/a/@v/v1.0.0.mod")
	if resp.StatusCode != 200 || string(body) != "module example.com/a\n" {
		t.Errorf("a after b was added: %d %q", resp.StatusCode, body)
	}

	// A half-copied bundle is skipped and named; a good one dropped in
	// beside it is served all the same.
	os.WriteFile(filepath.Join(dir, "c.gobundle"), []byte("not a bundle"), 0o666)
	waitFor(t, "the broken bundle to be skipped", func() bool { return strings.Contains(logs.String(), "skipping bad bundle") })
	if st := s.Stats(); len(st.Bundles) != 2 || len(st.Bad) != 1 || !strings.Contains(st.Bad[0], "c.gobundle") {
		t.Errorf("after a broken bundle serving %v, skipped %v", st.Bundles, st.Bad)
	}
	writeBundle(t, filepath.Join(dir, "d.gobundle"), 0, testMod{path: "example.com/d", version: "v1.0.0"})
	waitFor(t, "the bundle beside the broken one to be served", func() bool {
		resp, _ := mustGet(t, "GET", ts.URL+"/example.com/d/@v/list")
		return resp.StatusCode == 200
	})
	resp, _ = mustGet(t, "GET", ts.URL+"/example.com/b/@v/v1.0.0.info")
	if resp.StatusCode != 200 {
		t.Errorf("b after a broken bundle was dropped in: %d", resp.StatusCode)
	}
	resp, body = mustGet(t, "GET", ts.URL+"/healthz")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "degraded: 3 bundles, ") || !strings.Contains(string(body), "\nc.gobundle: ") {
		t.Errorf("healthz with a bad bundle: %d %q", resp.StatusCode, body)
	}
	_, body = mustGet(t, "GET", ts.URL+"/metrics")
	for _, want := range []string{"gobundle_serve_bundles_bad 1\n", `gobundle_serve_bundle_bad{bundle="c.gobundle"} 1` + "\n", "gobundle_serve_bundles_loaded 3\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Skipped once per change, not at every poll.
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(logs.String(), "skipping bad bundle"); n != 2 { // at c, then again at d's reload
		t.Errorf("bad bundle logged %d times", n)
	}
	// Once the copy is complete, it is served.
	writeBundle(t, filepath.Join(dir, "c.gobundle"), 0, testMod{path: "example.com/c", version: "v1.0.0"})
	waitFor(t, "the completed bundle to be served", func() bool {
		resp, _ := mustGet(t, "GET", ts.URL+"/example.com/c/@v/list")
		return resp.StatusCode == 200
	})
	if st := s.Stats(); len(st.Bad) != 0 {
		t.Errorf("still skipped: %v", st.Bad)
	}
}

// TestStartSkipsBadBundle: a truncated bundle in a served directory at
// start is skipped and named, the good ones served; a bad bundle alone is
// an error.
func TestStartSkipsBadBundle(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, filepath.Join(dir, "a.gobundle"), 0, testMod{path: "example.com/a", version: "v1.0.0"})
	writeBundle(t, filepath.Join(dir, "b.gobundle"), 0, testMod{path: "example.com/b", version: "v1.0.0"})
	data, err := os.ReadFile(filepath.Join(dir, "b.gobundle"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.gobundle"), data[:len(data)/2], 0o666); err != nil {
		t.Fatal(err)
	}
	s, ts, logs := startServer(t, Options{Bundles: []string{dir}})
	if st := s.Stats(); len(st.Bundles) != 1 || len(st.Bad) != 1 {
		t.Fatalf("serving %v, skipped %v", st.Bundles, st.Bad)
	}
	if !strings.Contains(logs.String(), "skipping bad bundle") || !strings.Contains(logs.String(), "b.gobundle") {
		t.Errorf("log does not name the bad bundle:\n%s", logs)
	}
	resp, _ := mustGet(t, "GET", ts.URL+"/example.com/a/@v/v1.0.0.mod")
	if resp.StatusCode != 200 {
		t.Errorf("a beside a truncated bundle: %d", resp.StatusCode)
	}
	resp, body := mustGet(t, "GET", ts.URL+"/healthz")
	if !strings.Contains(string(body), "skipped 1 bad bundle:\nb.gobundle: ") {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	if _, err := New(context.Background(), Options{Bundles: []string{filepath.Join(dir, "b.gobundle")}}); err == nil || !strings.Contains(err.Error(), "b.gobundle") {
		t.Errorf("serving only a truncated bundle: err = %v", err)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	name, _ := protocolBundle(t)
	_, ts, logs := startServer(t, Options{Bundles: []string{name}})
	resp, body := mustGet(t, "GET", ts.URL+"/healthz")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok: 1 bundle, 6 module versions") {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	mustGet(t, "GET", ts.URL+"/example.com/a/@v/v1.0.0.mod")
	mustGet(t, "GET", ts.URL+"/example.com/a/@v/v1.0.0.mod")
	mustGet(t, "GET", ts.URL+"/example.com/nope/@v/list")
	resp, body = mustGet(t, "GET", ts.URL+"/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m := string(body)
	for _, want := range []string{
		`gobundle_serve_requests_total{kind="mod",code="200"} 2` + "\n",
		`gobundle_serve_requests_total{kind="list",code="404"} 1` + "\n",
		`gobundle_serve_requests_total{kind="healthz",code="200"} 1` + "\n",
		`gobundle_serve_response_bytes_total{kind="mod"} 42` + "\n",
		`gobundle_serve_request_duration_seconds_count{kind="mod"} 2` + "\n",
		`gobundle_serve_request_duration_seconds_bucket{kind="mod",le="+Inf"} 2` + "\n",
		"gobundle_serve_bundles_loaded 1\n",
		"gobundle_serve_module_versions 6\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(logs.String(), "path=/example.com/a/@v/v1.0.0.mod status=200 bytes=21") {
		t.Errorf("access log lacks the .mod request:\n%s", logs)
	}
}

func TestRunGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, filepath.Join(dir, "a.gobundle"), 256<<10, bigMod("example.com/big"))
	o := &trackingOpener{gated: "a.gobundle", gate: make(chan struct{}), reached: make(chan struct{})}
	s, err := newServer(context.Background(), Options{Bundles: []string{dir}}, o.open)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx, ln) }()

	url := "http://" + ln.Addr().String() + "/example.com/big/@v/v1.0.0.zip"
	got := make(chan []byte, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- nil
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || int64(len(b)) != resp.ContentLength {
			b = nil
		}
		got <- b
	}()
	<-o.reached
	cancel() // as on SIGTERM, in the middle of a download
	select {
	case err := <-runErr:
		t.Fatalf("Run returned with a download in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(o.gate)
	if b := <-got; b == nil {
		t.Fatal("download in flight at shutdown did not complete")
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	waitFor(t, "the bundle to be closed", func() bool { return o.get("a.gobundle")[0].closed.Load() })
	if _, err := http.Get(url); err == nil {
		t.Error("server still answering after shutdown")
	}
}
