package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/vulndb"
)

// writeVulnBundle writes a bundle holding only a database of entries.
func writeVulnBundle(t *testing.T, name string, entries map[string][]byte) *vulndb.DB {
	t.Helper()
	db, err := vulndb.Build(entries)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w, err := bundle.NewWriter(bundle.WriterOptions{TempDir: t.TempDir(), Level: zstd.SpeedFastest})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, x := range db.Extras("test") {
		if err := w.AddExtra(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestServeVulnDB(t *testing.T) {
	dir := t.TempDir()
	older := filepath.Join(dir, "a.gobundle")
	newer := filepath.Join(dir, "b.gobundle")
	writeVulnBundle(t, older, map[string][]byte{"GO-2024-0001": []byte(`{"id":"GO-2024-0001","modified":"2024-01-01T00:00:00Z","affected":[]}`)})
	db := writeVulnBundle(t, newer, map[string][]byte{
		"GO-2024-0001": []byte(`{"id":"GO-2024-0001","modified":"2024-01-01T00:00:00Z","affected":[]}`),
		"GO-2024-0002": []byte(`{"id":"GO-2024-0002","modified":"2024-02-01T00:00:00Z","affected":[{"package":{"name":"example.com/v"}}]}`),
	})
	// The newer database wins whatever the order.
	s, ts, _ := startServer(t, Options{Bundles: []string{older, newer}})
	if st := s.Stats().VulnDB; st == nil || st.Entries != 2 || st.Bundle != newer {
		t.Fatalf("stats %+v", st)
	}
	for _, name := range []string{vulndb.DBFile, vulndb.ModulesFile, vulndb.VulnsFile, "ID/GO-2024-0002.json"} {
		resp, body := mustGet(t, "GET", ts.URL+"/vulndb/"+name)
		if resp.StatusCode != 200 || !bytes.Equal(body, db.Files[name]) || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %s %q", name, resp.Status, body)
		}
		resp, body = mustGet(t, "GET", ts.URL+"/vulndb/"+name+".gz")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%s.gz: %s %v", name, resp.Status, resp.Header)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(zr); !bytes.Equal(got, db.Files[name]) {
			t.Fatalf("%s.gz: %q", name, got)
		}
	}
	// govulncheck probes the v1 layout with HEAD.
	if resp, _ := mustGet(t, "HEAD", ts.URL+"/vulndb/index/modules.json.gz"); resp.StatusCode != 200 {
		t.Fatalf("HEAD: %s", resp.Status)
	}
	for _, p := range []string{"/vulndb/ID/GO-2024-0009.json", "/vulndb/ID/../index/db.json", "/vulndb/", "/vulndb/index/db"} {
		if resp, _ := mustGet(t, "GET", ts.URL+p); resp.StatusCode != 404 {
			t.Errorf("%s: %s", p, resp.Status)
		}
	}
	// Without one, /vulndb/ is a plain 404.
	plain := filepath.Join(dir, "c.gobundle")
	writeBundle(t, plain, 0, testMod{path: "example.com/a", version: "v1.0.0"})
	_, ts2, _ := startServer(t, Options{Bundles: []string{plain}})
	if resp, body := mustGet(t, "GET", ts2.URL+"/vulndb/index/modules.json.gz"); resp.StatusCode != 404 || !bytes.Contains(body, []byte("create --vulndb")) {
		t.Fatalf("%s %s", resp.Status, body)
	}
}
