package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/gobundle/gobundle/internal/testkit/tally"
)

// zipEntry is one entry of a crafted zip.
type zipEntry struct {
	name     string
	data     string
	mode     fs.FileMode // 0: regular 0644
	declared uint64      // if set, the uncompressed size the headers claim
	bomb     int         // if set, data is this many zero bytes, deflated
}

// craftZip writes entries as a zip, without any of x/mod/zip's checks.
func craftZip(t *testing.T, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		content := []byte(e.data)
		if e.bomb > 0 {
			content = make([]byte, e.bomb)
		}
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		fw.Write(content)
		fw.Close()
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(len(content))}
		h.CRC32 = crc32IEEE(content)
		if e.declared > 0 {
			h.UncompressedSize64 = e.declared
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateRaw(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(comp.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCatalogueUpstreamZips: an upstream zip that breaks the module zip
// rules (zip slip, absolute paths, duplicate names, case-fold collisions,
// over-size files, a zip bomb) is refused by golang.org/x/mod/zip's checks
// before it is stored, even when go.sum holds its very hash (a lying
// upstream and a go.sum it wrote): create fails naming the module version
// and the rule, writes no bundle, and the download cache holds no copy.
func TestCatalogueUpstreamZips(t *testing.T) {
	const p = "example.com/evil@v1.0.0/"
	goMod := zipEntry{name: p + "go.mod", data: "module example.com/evil\n"}
	cases := []struct {
		name    string
		entries []zipEntry
		want    string // after "invalid module zip from $UPSTREAM/example.com/evil/@v/v1.0.0.zip: "
	}{
		{"zip-slip", []zipEntry{goMod, {name: p + "../../../etc/cron.d/x", data: "x"}},
			`example.com/evil@v1.0.0/../../../etc/cron.d/x: malformed file path "../../../etc/cron.d/x": invalid path element ".."`},
		{"absolute-path", []zipEntry{goMod, {name: "/etc/passwd", data: "x"}},
			`/etc/passwd: path does not have prefix "example.com/evil@v1.0.0/"`},
		{"other-module-prefix", []zipEntry{goMod, {name: "example.com/other@v1.0.0/a.go", data: "package a\n"}},
			`example.com/other@v1.0.0/a.go: path does not have prefix "example.com/evil@v1.0.0/"`},
		{"duplicate-name", []zipEntry{goMod, {name: p + "a.go", data: "package a\n"}, {name: p + "a.go", data: "package evil\n"}},
			`example.com/evil@v1.0.0/a.go: multiple entries for file "a.go"`},
		{"case-fold-collision", []zipEntry{goMod, {name: p + "A.go", data: "package a\n"}, {name: p + "a.go", data: "package a\n"}},
			`example.com/evil@v1.0.0/a.go: case-insensitive file name collision: "A.go" and "a.go"`},
		{"backslash-name", []zipEntry{goMod, {name: p + `dir\..\..\x.go`, data: "package a\n"}},
			`example.com/evil@v1.0.0/dir\..\..\x.go: malformed file path "dir\\..\\..\\x.go": invalid char '\\'`},
		{"over-size-file", []zipEntry{goMod, {name: p + "big.bin", data: "x", declared: 600 << 20}},
			"total uncompressed size of module contents too large (max size is 524288000 bytes)"},
		{"go.mod-too-large", []zipEntry{{name: p + "go.mod", data: "module example.com/evil\n", declared: 32 << 20}},
			"example.com/evil@v1.0.0/go.mod: go.mod file too large (max size is 16777216 bytes)"},
		{"zip-bomb-lying-size", []zipEntry{goMod, {name: p + "bomb.go", bomb: 64 << 20, declared: 100}},
			"example.com/evil@v1.0.0/bomb.go: zip: not a valid zip file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := craftZip(t, c.entries)
			evil := fixtures.NewZipModule("example.com/evil", "v1.0.0", []byte("module example.com/evil\n"), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), data)
			// go.sum holds the zip's own hash, as if the upstream wrote it;
			// a zip that cannot be hashed gets any hash.
			zh, _ := evil.ZipHash()
			if zh == "" {
				zh = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
			}
			mh, err := evil.ModHash()
			if err != nil {
				t.Fatal(err)
			}
			sumLines := "example.com/evil v1.0.0 " + zh + "\nexample.com/evil v1.0.0/go.mod " + mh + "\n"
			set := fixtures.NewSet(evil)
			up := fakeproxy.Start(set, 1)
			defer up.Close()
			work := t.TempDir()
			proj := filepath.Join(work, "p")
			os.MkdirAll(proj, 0o777)
			os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module example.com/x\n\ngo 1.22\n\nrequire example.com/evil v1.0.0\n"), 0o666)
			os.WriteFile(filepath.Join(proj, "go.sum"), []byte(sumLines), 0o666)
			out := filepath.Join(work, "out")
			os.Mkdir(out, 0o777)
			cache := filepath.Join(work, "cache")
			var stdout, stderr strings.Builder
			code := run(context.Background(), []string{"create", "-q", "-o", filepath.Join(out, "x.gobundle"), "--cache", cache, proj}, &stdout, &stderr, kitGetenv(work, up.URL))
			tally.Add(t, tally.Inputs, 1)
			got := strings.ReplaceAll(stderr.String(), up.URL, "$UPSTREAM")
			want := "gobundle: example.com/evil@v1.0.0: zip: invalid module zip from $UPSTREAM/example.com/evil/@v/v1.0.0.zip: " + c.want + "\n"
			if code != 1 || got != want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, got, want)
			} else {
				tally.Add(t, tally.Errors, 1)
			}
			if left := dirNames(t, out); len(left) > 0 {
				t.Errorf("left in the output directory: %v", left)
			}
			sum := sha256.Sum256(data)
			filepath.WalkDir(cache, func(name string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(name)
				if sha256.Sum256(b) == sum || strings.Contains(name, hex.EncodeToString(sum[:])) {
					t.Errorf("the refused zip is stored in the cache as %s", name)
					tally.Add(t, tally.Wrong, int64(len(b)))
				}
				return nil
			})
		})
	}
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// TestCatalogueUpstreamZipSymlink: a zip entry marked as a symbolic link
// breaks no module zip rule (golang.org/x/mod/zip ignores modes, and the
// go command extracts every entry as a plain file), so create takes it as
// the go command does, and what the bundle serves and unpack writes is a
// plain file holding the link's text: never a link.
func TestCatalogueUpstreamZipSymlink(t *testing.T) {
	const p = "example.com/evil@v1.0.0/"
	data := craftZip(t, []zipEntry{{name: p + "go.mod", data: "module example.com/evil\n"}, {name: p + "passwd", data: "/etc/passwd", mode: fs.ModeSymlink | 0o777}})
	evil := fixtures.NewZipModule("example.com/evil", "v1.0.0", []byte("module example.com/evil\n"), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), data)
	sumLines, err := evil.GoSumLines()
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(fixtures.NewSet(evil), 1)
	defer up.Close()
	work := t.TempDir()
	proj := filepath.Join(work, "p")
	os.MkdirAll(proj, 0o777)
	os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module example.com/x\n\ngo 1.22\n\nrequire example.com/evil v1.0.0\n"), 0o666)
	os.WriteFile(filepath.Join(proj, "go.sum"), []byte(sumLines), 0o666)
	b := filepath.Join(work, "x.gobundle")
	getenv := kitGetenv(work, up.URL)
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"create", "-q", "-o", b, "--cache", filepath.Join(work, "cache"), proj}, &stdout, &stderr, getenv); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr.String())
	}
	tree := filepath.Join(work, "tree")
	if code := run(context.Background(), []string{"unpack", "-q", b, tree}, &stdout, &stderr, getenv); code != 0 {
		t.Fatalf("unpack: exit %d: %s", code, stderr.String())
	}
	tally.Add(t, tally.Inputs, 1)
	zr, err := zip.OpenReader(filepath.Join(tree, "example.com", "evil", "@v", "v1.0.0.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if !f.Mode().IsRegular() {
			t.Errorf("served zip entry %s has mode %v, want a plain file", f.Name, f.Mode())
		}
	}
	filepath.WalkDir(tree, func(name string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			t.Errorf("unpack wrote a symbolic link %s", name)
		}
		return nil
	})
}
