package latencymirror

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// upstream answers a few paths and counts the requests per path.
func upstream(t *testing.T) (*httptest.Server, map[string]*atomic.Int64) {
	hits := map[string]*atomic.Int64{}
	for _, p := range []string{"/example.com/a/@v/v1.0.0.mod", "/example.com/!b/@v/list", "/example.com/gone/@v/v1.0.0.info", "/example.com/flaky/@v/v1.0.0.info", "/sumdb/db/tile/8/0/001"} {
		hits[p] = &atomic.Int64{}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if h := hits[p]; h != nil {
			h.Add(1)
		}
		switch p {
		case "/example.com/a/@v/v1.0.0.mod":
			io.WriteString(w, "module example.com/a\n")
		case "/example.com/!b/@v/list":
			io.WriteString(w, "v1.0.0\n")
		case "/sumdb/db/tile/8/0/001":
			io.WriteString(w, "tile")
		case "/example.com/gone/@v/v1.0.0.info":
			http.Error(w, "gone: not at this mirror", http.StatusGone)
		case "/example.com/flaky/@v/v1.0.0.info":
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func get(t *testing.T, u string) (int, string, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), time.Since(start)
}

// TestRecordOnceThenDelay: a first request is fetched upstream and kept
// (200 and 410 alike), later ones come from the tree; every answer waits
// the delay; 5xx answers are passed on as 502 and never kept.
func TestRecordOnceThenDelay(t *testing.T) {
	up, hits := upstream(t)
	dir := t.TempDir()
	const delay = 60 * time.Millisecond
	m, err := Start(Config{Dir: dir, Upstream: up.URL, Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for round := 0; round < 2; round++ {
		for _, c := range []struct {
			path, body string
			status     int
		}{
			{"/example.com/a/@v/v1.0.0.mod", "module example.com/a\n", 200},
			{"/example.com/!b/@v/list", "v1.0.0\n", 200},
			{"/sumdb/db/tile/8/0/001", "tile", 200},
			{"/example.com/gone/@v/v1.0.0.info", "gone: not at this mirror\n", 410},
		} {
			status, body, took := get(t, m.URL+c.path)
			if status != c.status || body != c.body {
				t.Errorf("round %d: %s: %d %q, want %d %q", round, c.path, status, body, c.status, c.body)
			}
			if took < delay {
				t.Errorf("round %d: %s answered in %v, before the %v delay", round, c.path, took, delay)
			}
			if n := hits[c.path].Load(); n != 1 {
				t.Errorf("round %d: %s fetched upstream %d times, want once", round, c.path, n)
			}
		}
		status, _, _ := get(t, m.URL+"/example.com/flaky/@v/v1.0.0.info")
		if status != http.StatusBadGateway {
			t.Errorf("upstream 503: mirror answered %d, want 502", status)
		}
	}
	if n := hits["/example.com/flaky/@v/v1.0.0.info"].Load(); n != 2 {
		t.Errorf("a 503 was kept: fetched %d times in 2 rounds", n)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "example.com", "gone", "@v", "v1.0.0.info#410")); err != nil || !strings.Contains(string(data), "gone") {
		t.Errorf("410 answer not kept in the tree: %q, %v", data, err)
	}
	if got, want := m.Fetches.Load(), int64(6); got != want {
		t.Errorf("Fetches = %d, want %d (4 kept files once, the 503 twice)", got, want)
	}
	if got, want := m.Requests.Load(), int64(10); got != want {
		t.Errorf("Requests = %d, want %d", got, want)
	}
}

// TestTreeOnly: without an upstream the tree alone answers; what it lacks
// is a 404 naming the path, and paths that could leave the tree are 400.
func TestTreeOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "example.com", "a", "@v"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.com", "a", "@v", "v1.0.0.mod"), []byte("module example.com/a\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	m, err := Start(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if status, body, _ := get(t, m.URL+"/example.com/a/@v/v1.0.0.mod"); status != 200 || body != "module example.com/a\n" {
		t.Errorf("kept file: %d %q", status, body)
	}
	if status, body, _ := get(t, m.URL+"/example.com/a/@v/v1.0.0.zip"); status != 404 || !strings.Contains(body, "example.com/a/@v/v1.0.0.zip") {
		t.Errorf("missing file: %d %q, want 404 naming it", status, body)
	}
	// A path under a file is a miss, not an error.
	if status, _, _ := get(t, m.URL+"/example.com/a/@v/v1.0.0.mod/x"); status != 404 {
		t.Errorf("path under a file: %d, want 404", status)
	}
	for _, p := range []string{"/example.com/a/../../x", "/example.com/a/@v/", "/a%23410", "/a%5Cb"} {
		req, _ := http.NewRequest(http.MethodGet, m.URL+p, nil)
		req.URL.RawPath = ""
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 400 (or the server's own 404 after cleaning)", p, resp.StatusCode)
		}
	}
}
