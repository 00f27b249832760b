package serve

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/bundle"
)

// TestIncrementalBundles: a delta is served with its base; named as a
// file without it, serve does not start and names the missing digest;
// found in a directory without it, it is skipped (healthz, metrics) and
// the rest served, until a reload finds the base.
func TestIncrementalBundles(t *testing.T) {
	ctx := context.Background()
	dir, elsewhere := t.TempDir(), t.TempDir()
	big := strings.Repeat("a line of text shared by both versions\n", 2000)
	v1 := testMod{path: "example.com/m", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/m\n", "m.go": "package m // v1\n", "big.txt": big}}
	v2 := testMod{path: "example.com/m", version: "v1.1.0", files: map[string]string{"go.mod": "module example.com/m\n", "m.go": "package m // v2\n", "big.txt": big}}
	other := testMod{path: "example.com/other", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/other\n", "o.go": "package other\n"}}
	baseName := filepath.Join(elsewhere, "base.gobundle")
	writeBundle(t, baseName, 0, v1)
	base, err := bundle.Open(ctx, baseName)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	delta := filepath.Join(dir, "delta.gobundle")
	writeBundleOn(t, delta, 0, []*bundle.Reader{base}, v1, v2)
	writeBundle(t, filepath.Join(dir, "other.gobundle"), 0, other)
	want := "sha256:" + base.Digest().String()

	// Named as a file without its base: no server.
	if _, err := New(ctx, Options{Bundles: []string{delta}}); err == nil || !strings.Contains(err.Error(), "needs base bundle "+want) {
		t.Fatalf("serve of a delta alone: %v", err)
	}

	// Found in a directory without its base: skipped, the rest served.
	s, ts, logs := startServer(t, Options{Bundles: []string{dir}})
	if _, body := mustGet(t, "GET", ts.URL+"/healthz"); !strings.Contains(string(body), "degraded") || !strings.Contains(string(body), want) {
		t.Fatalf("healthz: %s", body)
	}
	if _, body := mustGet(t, "GET", ts.URL+"/metrics"); !strings.Contains(string(body), "gobundle_serve_bundles_missing_base 1\n") {
		t.Fatalf("metrics: %s", body)
	}
	if !strings.Contains(logs.String(), "skipping incremental bundle whose bases are not loaded") {
		t.Fatalf("log: %s", logs)
	}
	if resp, _ := mustGet(t, "GET", ts.URL+"/example.com/other/@v/v1.0.0.mod"); resp.StatusCode != http.StatusOK {
		t.Fatalf("other bundle: %s", resp.Status)
	}
	if resp, _ := mustGet(t, "GET", ts.URL+"/example.com/m/@v/v1.1.0.zip"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("skipped delta's zip: %s", resp.Status)
	}

	// The base arrives: the reload serves the delta, its shared file read
	// from the base.
	data, err := os.ReadFile(baseName)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "base.gobundle"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	resp, got := mustGet(t, "GET", ts.URL+"/example.com/m/@v/v1.1.0.zip")
	if resp.StatusCode != http.StatusOK || zipHash(t, got) != zipHashOf(t, v2) {
		t.Fatalf("delta's zip after reload: %s, h1 %s", resp.Status, zipHash(t, got))
	}
	if _, body := mustGet(t, "GET", ts.URL+"/metrics"); !strings.Contains(string(body), "gobundle_serve_bundles_missing_base 0\n") {
		t.Fatalf("metrics after reload: %s", body)
	}
	if _, body := mustGet(t, "GET", ts.URL+"/example.com/m/@v/list"); string(body) != "v1.0.0\nv1.1.0\n" {
		t.Fatalf("list: %q", body)
	}
}

// zipHashOf is the h1: hash of m's zip as writeZip makes it.
func zipHashOf(t *testing.T, m testMod) string {
	data, err := os.ReadFile(writeZip(t, t.TempDir(), m))
	if err != nil {
		t.Fatal(err)
	}
	return zipHash(t, data)
}

// TestIncrementalCorruptNeverServed: a delta whose stored content is
// damaged is answered with errors, never with wrong bytes, for files it
// stores and for files it reads from its base.
func TestIncrementalCorruptNeverServed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	big := randomText(64 << 10)
	v1 := testMod{path: "example.com/m", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/m\n", "m.go": "package m // v1\n", "big.bin": big}}
	v2 := testMod{path: "example.com/m", version: "v1.1.0", files: map[string]string{"go.mod": "module example.com/m\n", "m.go": "package m // v2 " + randomText(4<<10) + "\n", "big.bin": big}}
	baseName, delta := filepath.Join(dir, "base.gobundle"), filepath.Join(dir, "delta.gobundle")
	writeBundle(t, baseName, 0, v1)
	base, err := bundle.Open(ctx, baseName)
	if err != nil {
		t.Fatal(err)
	}
	writeBundleOn(t, delta, 0, []*bundle.Reader{base}, v2)
	d, err := bundle.Open(ctx, delta)
	if err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	d.Close()
	base.Close()
	data, err := os.ReadFile(delta)
	if err != nil {
		t.Fatal(err)
	}
	want := zipHashOf(t, v2)
	refused := 0
	// Every 97th byte of the frames, one at a time.
	for off := int64(16); off < 16+st.CompressedBytes; off += 97 {
		bad := append([]byte(nil), data...)
		bad[off] ^= 0x40
		if err := os.WriteFile(delta, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := New(ctx, Options{Bundles: []string{baseName, delta}})
		if err != nil {
			continue // refused at open: also never served
		}
		ts := httptest.NewServer(s.Handler())
		for _, f := range []string{"info", "mod", "zip"} {
			resp, body, err := get(t, "GET", ts.URL+"/example.com/m/@v/v1.1.0."+f)
			if err != nil || resp.StatusCode != http.StatusOK {
				refused++
				continue
			}
			ok := map[string]bool{"info": string(body) == string(v2.infoData()), "mod": string(body) == string(v2.modData())}[f]
			if f == "zip" {
				ok = zipHash(t, body) == want
			}
			if !ok {
				t.Fatalf("byte %d flipped: wrong %s served with 200", off, f)
			}
		}
		ts.Close()
		s.Close()
	}
	if refused == 0 {
		t.Fatal("no damaged file was refused: the flips missed the content")
	}
}
