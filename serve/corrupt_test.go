package serve

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damage flips one byte of the random content marker where the bundle
// file name holds it verbatim (zstd stores incompressible blocks as they
// are, in blocks of at most 128 KiB).
func damage(t *testing.T, name, marker string) {
	t.Helper()
	data := mustRead(t, name)
	for off := 0; off+256 <= len(marker); off += 256 {
		if i := bytes.Index(data, []byte(marker[off:off+256])); i >= 0 {
			data[i+128] ^= 0x55
			if err := os.WriteFile(name, data, 0o666); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("%s: marker not stored verbatim", name)
}

func TestCorruptSmallFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "c.gobundle")
	marker := randomText(4096)
	m := testMod{path: "example.com/c", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/c\n", "data.bin": marker}}
	writeBundle(t, name, 0, m, testMod{path: "example.com/ok", version: "v1.0.0"})
	damage(t, name, marker)
	_, ts, logs := startServer(t, Options{Bundles: []string{name}})

	for _, method := range []string{"GET", "HEAD"} {
		resp, body := mustGet(t, method, ts.URL+"/example.com/c/@v/v1.0.0.zip")
		if resp.StatusCode != 500 {
			t.Errorf("%s corrupt zip: %d", method, resp.StatusCode)
		}
		if method == "GET" && !strings.Contains(string(body), "example.com/c@v1.0.0.zip") {
			t.Errorf("corrupt zip body %q", body)
		}
		// Issue 11, finding 9: error bodies named the bundle's full path.
		if dir := filepath.Dir(name); strings.Contains(string(body), dir) || !strings.Contains(string(body), "in c.gobundle") && method == "GET" {
			t.Errorf("corrupt zip body %q names the local directory %s (or not the bundle)", body, dir)
		}
		if resp.Header.Get("ETag") != "" || strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("corrupt zip answered with cacheable headers: %v", resp.Header)
		}
	}
	if l := logs.String(); !strings.Contains(l, "corrupt bundle content refused") || !strings.Contains(l, "example.com/c@v1.0.0.zip") {
		t.Errorf("corruption not logged:\n%s", l)
	}
	// The rest of the bundle is still served.
	resp, body := mustGet(t, "GET", ts.URL+"/example.com/ok/@v/v1.0.0.mod")
	if resp.StatusCode != 200 || string(body) != "module example.com/ok\n" {
		t.Errorf("good file next to corrupt one: %d %q", resp.StatusCode, body)
	}
	_, metrics := mustGet(t, "GET", ts.URL+"/metrics")
	if !strings.Contains(string(metrics), "gobundle_serve_corrupt_total 2\n") {
		t.Errorf("metrics do not count the corrupt answers:\n%s", metrics)
	}
}

// TestCorruptDuringTransfer damages the last file of a zip large enough to
// be checked while sent: the status line and the first files are out
// already, so the server must break the transfer.
func TestCorruptDuringTransfer(t *testing.T) {
	name := filepath.Join(t.TempDir(), "big.gobundle")
	files := map[string]string{"go.mod": "module example.com/big\n"}
	var last string
	for i := range 8 {
		last = randomText(300 << 10)
		files[fmt.Sprintf("f%d.bin", i)] = last
	}
	writeBundle(t, name, 256<<10, testMod{path: "example.com/big", version: "v1.0.0", files: files})
	_, ts, _ := startServer(t, Options{Bundles: []string{name}})
	url := ts.URL + "/example.com/big/@v/v1.0.0.zip"
	resp, good := mustGet(t, "GET", url)
	if resp.StatusCode != 200 || int64(len(good)) != resp.ContentLength || len(good) <= smallFile {
		t.Fatalf("intact big zip: %d, %d bytes", resp.StatusCode, len(good))
	}
	ts.Close()

	damage(t, name, last)
	_, ts, logs := startServer(t, Options{Bundles: []string{name}})
	url = ts.URL + "/example.com/big/@v/v1.0.0.zip"
	resp, body, err := get(t, "GET", url)
	if err == nil {
		t.Fatalf("corrupt big zip: transfer completed: %d, %d of %d bytes", resp.StatusCode, len(body), len(good))
	}
	if !bytes.HasPrefix(good, body) || len(body) >= len(good) {
		t.Errorf("corrupt big zip: got %d bytes that are not a proper prefix of the good zip", len(body))
	}
	if !strings.Contains(logs.String(), "corrupt bundle content refused") || !strings.Contains(logs.String(), "aborted=true") {
		t.Errorf("corruption not logged:\n%s", logs.String())
	}

	// A range that stays in the intact part is served; one reaching the
	// damaged file fails before its first byte is sent.
	resp, body = mustGet(t, "GET", url, "Range: bytes=0-99999")
	if resp.StatusCode != 206 || !bytes.Equal(body, good[:100000]) {
		t.Errorf("range in intact part: %d, %d bytes", resp.StatusCode, len(body))
	}
	// Several ranges get the whole file, so a broken transfer.
	if resp, body, err := get(t, "GET", url, "Range: bytes=0-9,20-29"); err == nil {
		t.Errorf("multi-range over a damaged zip: transfer completed: %d, %d bytes", resp.StatusCode, len(body))
	}
	off := bytes.Index(good, []byte(last))
	resp, body = mustGet(t, "GET", url, fmt.Sprintf("Range: bytes=%d-%d", off, off+999))
	if resp.StatusCode != 500 || !strings.Contains(string(body), "failed its checksum") {
		t.Errorf("range in damaged part: %d %q", resp.StatusCode, body)
	}
}

// TestHotCopyChecked damages the in-memory copy of a hot .mod file: the
// server notices, logs it and serves the bundle's checked bytes instead.
func TestHotCopyChecked(t *testing.T) {
	name := filepath.Join(t.TempDir(), "h.gobundle")
	writeBundle(t, name, 0, testMod{path: "example.com/h", version: "v1.0.0"})
	s, ts, logs := startServer(t, Options{Bundles: []string{name}})
	url := ts.URL + "/example.com/h/@v/v1.0.0.mod"
	for range 2 {
		resp, body := mustGet(t, "GET", url)
		if resp.StatusCode != 200 || string(body) != "module example.com/h\n" {
			t.Fatalf(".mod: %d %q", resp.StatusCode, body)
		}
	}
	v := s.acquire()
	loc := &v.mods["example.com/h"].versions["v1.0.0"].mod
	hf := loc.hot.Load()
	v.release(s.log)
	if hf == nil {
		t.Fatal("a .mod read twice is not kept in memory")
	}
	hf.data[0] ^= 0x20
	resp, body := mustGet(t, "GET", url)
	if resp.StatusCode != 200 || string(body) != "module example.com/h\n" {
		t.Errorf(".mod after its in-memory copy changed: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "in-memory copy") {
		t.Errorf("damaged in-memory copy not logged:\n%s", logs)
	}
}
