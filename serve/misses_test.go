package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestMisses(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "a.gobundle")
	writeBundle(t, b, 0, testMod{path: "example.com/a", version: "v1.0.0", files: map[string]string{"a.go": "package a\n"}},
		testMod{path: "example.com/half", version: "v1.0.0"})
	file := filepath.Join(dir, "misses.log")
	s, ts, _ := startServer(t, Options{Bundles: []string{b}, MissesFile: file})

	for _, p := range []string{
		"/example.com/a/@v/v1.1.0.info",                  // version not bundled
		"/example.com/a/@v/v1.1.0.zip",                   // same, another kind
		"/example.com/new/@v/v0.1.0.mod",                 // module not bundled
		"/example.com/new/@latest",                       // its latest
		"/example.com/other/@v/list",                     // a list: latest
		"/example.com/half/@v/v1.0.0.zip",                // only some files bundled
		"/sumdb/sum.example/lookup/example.com/x@v1.2.3", // no such database here
		"/example.com/a/@v/master.info",                  // a query, not a version: not recorded
		"/example.com/!bad!/@v/v1.0.0.info",              // invalid path: not recorded
	} {
		resp, _ := mustGet(t, "GET", ts.URL+p)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %s, want 404", p, resp.Status)
		}
	}
	// Found files are not misses.
	if resp, _ := mustGet(t, "GET", ts.URL+"/example.com/a/@v/v1.0.0.info"); resp.StatusCode != 200 {
		t.Fatalf("bundled .info: %s", resp.Status)
	}
	mustGet(t, "GET", ts.URL+"/example.com/a/@v/v1.1.0.info")

	_, text := mustGet(t, "GET", ts.URL+"/-/misses")
	var lines []string
	for _, l := range strings.Split(string(text), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	want := []string{"example.com/a@v1.1.0", "example.com/half@v1.0.0", "example.com/new@v0.1.0", "example.com/new@latest", "example.com/other@latest", "example.com/x@v1.2.3"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("/-/misses:\n%s\nwant lines:\n%s", text, strings.Join(want, "\n"))
	}
	resp, js := mustGet(t, "GET", ts.URL+"/-/misses?format=json")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("json Content-Type %q", ct)
	}
	var out struct{ Misses []Miss }
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	a := out.Misses[0]
	if a.String() != "example.com/a@v1.1.0" || a.Count != 3 || strings.Join(a.Kinds, ",") != "info,zip" || a.First.IsZero() || a.Last.Before(a.First) {
		t.Fatalf("first miss %+v", a)
	}
	if strings.Contains(string(js), "127.0.0.1") {
		t.Fatalf("misses name a client address:\n%s", js)
	}
	_, metrics := mustGet(t, "GET", ts.URL+"/metrics")
	for _, m := range []string{`gobundle_serve_misses_total{kind="info"} 2`, `gobundle_serve_misses_total{kind="zip"} 2`,
		`gobundle_serve_misses_total{kind="latest"} 1`, `gobundle_serve_misses_total{kind="list"} 1`,
		`gobundle_serve_misses_total{kind="sumdb"} 1`, "gobundle_serve_misses 6\n"} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("metrics lack %s", m)
		}
	}

	// A restart reads the file back: counts add up across runs.
	ts.Close()
	s.Close()
	s2, ts2, _ := startServer(t, Options{Bundles: []string{b}, MissesFile: file})
	mustGet(t, "GET", ts2.URL+"/example.com/a/@v/v1.1.0.mod")
	ms := s2.misses.list()
	if len(ms) != 6 || ms[0].Count != 4 || strings.Join(ms[0].Kinds, ",") != "info,mod,zip" || !ms[0].First.Equal(a.First) {
		t.Fatalf("after restart: %+v", ms)
	}
}

// TestMissesFileCrash: a line cut short (a crash mid-write) and foreign
// lines are skipped, and the next append starts on a new line.
func TestMissesFileCrash(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "a.gobundle")
	writeBundle(t, b, 0, testMod{path: "example.com/a", version: "v1.0.0"})
	file := filepath.Join(dir, "misses.log")
	good := `{"module":"example.com/old","version":"v1.0.0","kinds":["zip"],"count":2,"first":"2026-01-01T00:00:00Z","last":"2026-01-02T00:00:00Z"}`
	os.WriteFile(file, []byte(good+"\nnot json\n"+`{"module":"../../etc","version":"v1.0.0","count":1}`+"\n"+`{"module":"example.com/cut","ver`), 0o644)
	s, ts, logs := startServer(t, Options{Bundles: []string{b}, MissesFile: file})
	if !strings.Contains(logs.String(), "lines=3") {
		t.Fatalf("log does not count the 3 bad lines:\n%s", logs)
	}
	mustGet(t, "GET", ts.URL+"/example.com/new/@v/v1.0.0.info")
	ts.Close()
	s.Close()
	data, _ := os.ReadFile(file)
	last := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if l := last[len(last)-1]; !strings.HasPrefix(l, `{"module":"example.com/new"`) {
		t.Fatalf("last line %q, file:\n%s", l, data)
	}
	s2, _, _ := startServer(t, Options{Bundles: []string{b}, MissesFile: file})
	if got := fmt.Sprint(s2.misses.list()); !strings.Contains(got, "example.com/old") || !strings.Contains(got, "example.com/new") || len(s2.misses.list()) != 2 {
		t.Fatalf("misses %s", got)
	}
}

// TestMissesConcurrent: two servers sharing one file, many requests at
// once: every miss is counted once in the file.
func TestMissesConcurrent(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "a.gobundle")
	writeBundle(t, b, 0, testMod{path: "example.com/a", version: "v1.0.0"})
	file := filepath.Join(dir, "misses.log")
	s1, ts1, _ := startServer(t, Options{Bundles: []string{b}, MissesFile: file})
	s2, ts2, _ := startServer(t, Options{Bundles: []string{b}, MissesFile: file})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := ts1.URL
			if i%2 == 1 {
				url = ts2.URL
			}
			for j := range 5 {
				mustGet(t, "GET", fmt.Sprintf("%s/example.com/m%d/@v/v1.0.%d.zip", url, i%4, j))
			}
		}()
	}
	wg.Wait()
	ts1.Close()
	ts2.Close()
	s1.Close()
	s2.Close()
	s3, _, logs := startServer(t, Options{Bundles: []string{b}, MissesFile: file})
	ms := s3.misses.list()
	var total uint64
	for _, m := range ms {
		total += m.Count
	}
	if len(ms) != 20 || total != 200 || strings.Contains(logs.String(), "skipped") {
		t.Fatalf("%d misses, %d counted (want 20, 200); log:\n%s", len(ms), total, logs)
	}
}

// TestMissesBound: past MaxMisses distinct misses new ones are dropped and
// counted, never kept.
func TestMissesBound(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "a.gobundle")
	writeBundle(t, b, 0, testMod{path: "example.com/a", version: "v1.0.0"})
	s, ts, _ := startServer(t, Options{Bundles: []string{b}, MaxMisses: 3})
	for i := range 5 {
		mustGet(t, "GET", fmt.Sprintf("%s/example.com/m%d/@latest", ts.URL, i))
	}
	if n := len(s.misses.list()); n != 3 {
		t.Fatalf("%d misses kept, want 3", n)
	}
	_, metrics := mustGet(t, "GET", ts.URL+"/metrics")
	if !strings.Contains(string(metrics), "gobundle_serve_misses_dropped_total 2") {
		t.Fatalf("metrics:\n%s", metrics)
	}
}
