package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// protocolBundle is a bundle with a few modules exercising escapes,
// partial versions and @latest rules.
func protocolBundle(t *testing.T) (string, []testMod) {
	mods := []testMod{
		{path: "example.com/a", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/a\n", "a.go": "package a\n"}},
		{path: "example.com/a", version: "v1.1.0", files: map[string]string{"go.mod": "module example.com/a\n", "a.go": "package a // 1.1\n"}},
		{path: "example.com/a", version: "v1.2.0-pre", files: map[string]string{"go.mod": "module example.com/a\n", "a.go": "package a // pre\n"}},
		{path: "example.com/a", version: "v1.0.1-0.20240101000000-abcdefabcdef"},
		{path: "github.com/BurntSushi/toml", version: "v1.3.0-RC1", files: map[string]string{"go.mod": "module github.com/BurntSushi/toml\n", "toml.go": "package toml\n"}},
		{path: "example.com/modonly", version: "v0.1.0", noInfo: true},
	}
	name := filepath.Join(t.TempDir(), "p.gobundle")
	writeBundle(t, name, 0, mods...)
	return name, mods
}

func TestProtocol(t *testing.T) {
	name, mods := protocolBundle(t)
	_, ts, _ := startServer(t, Options{Bundles: []string{name}})

	resp, body := mustGet(t, "GET", ts.URL+"/example.com/a/@v/list")
	if resp.StatusCode != 200 || string(body) != "v1.0.0\nv1.1.0\nv1.2.0-pre\n" {
		t.Errorf("list: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("list Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("list Cache-Control %q", cc)
	}

	for _, m := range mods {
		esc := map[string]string{"github.com/BurntSushi/toml": "github.com/!burnt!sushi/toml"}[m.path]
		if esc == "" {
			esc = m.path
		}
		escV := strings.ReplaceAll(m.version, "RC", "!r!c")
		base := ts.URL + "/" + esc + "/@v/" + escV
		resp, body := mustGet(t, "GET", base+".mod")
		if resp.StatusCode != 200 || !bytes.Equal(body, m.modData()) {
			t.Errorf("%s@%s .mod: %d %q", m.path, m.version, resp.StatusCode, body)
		}
		checkFileHeaders(t, resp, body, "text/plain; charset=utf-8")
		resp, body = mustGet(t, "GET", base+".info")
		if m.noInfo {
			if resp.StatusCode != 404 || !strings.Contains(string(body), "not in the loaded bundles") {
				t.Errorf("%s@%s .info absent: %d %q", m.path, m.version, resp.StatusCode, body)
			}
		} else {
			if resp.StatusCode != 200 || !bytes.Equal(body, m.infoData()) {
				t.Errorf("%s@%s .info: %d %q", m.path, m.version, resp.StatusCode, body)
			}
			checkFileHeaders(t, resp, body, "application/json")
		}
		resp, body = mustGet(t, "GET", base+".zip")
		if m.files == nil {
			if resp.StatusCode != 404 || !strings.Contains(string(body), m.path+"@"+m.version+".zip is not in the loaded bundles") {
				t.Errorf("%s@%s .zip absent: %d %q", m.path, m.version, resp.StatusCode, body)
			}
			continue
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s@%s .zip: %d %q", m.path, m.version, resp.StatusCode, body)
		}
		checkFileHeaders(t, resp, body, "application/zip")
		want := zipHash(t, mustRead(t, writeZip(t, t.TempDir(), m)))
		if got := zipHash(t, body); got != want {
			t.Errorf("%s@%s .zip hash %s, want %s", m.path, m.version, got, want)
		}
	}

	// HEAD: headers, no body.
	resp, body = mustGet(t, "HEAD", ts.URL+"/example.com/a/@v/v1.0.0.mod")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len("module example.com/a\n")) {
		t.Errorf("HEAD .mod: %d len %d body %q", resp.StatusCode, resp.ContentLength, body)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFileHeaders checks the headers every versioned file carries.
func checkFileHeaders(t *testing.T, resp *http.Response, body []byte, ctype string) {
	t.Helper()
	if got := resp.Header.Get("Content-Type"); got != ctype {
		t.Errorf("%s: Content-Type %q, want %q", resp.Request.URL.Path, got, ctype)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("%s: Cache-Control %q", resp.Request.URL.Path, got)
	}
	sum := sha256.Sum256(body)
	if got, want := resp.Header.Get("ETag"), `"`+hex.EncodeToString(sum[:])+`"`; got != want {
		t.Errorf("%s: ETag %s, want %s", resp.Request.URL.Path, got, want)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("%s: Content-Length %d, body %d", resp.Request.URL.Path, resp.ContentLength, len(body))
	}
}

func TestLatest(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "l.gobundle")
	writeBundle(t, name, 0,
		// Releases win over prereleases; v1.3.0 retracts itself and v1.2.0.
		testMod{path: "example.com/rel", version: "v1.1.0"},
		testMod{path: "example.com/rel", version: "v1.2.0"},
		testMod{path: "example.com/rel", version: "v1.3.0", mod: "module example.com/rel\n\nretract [v1.2.0, v1.3.0]\n"},
		testMod{path: "example.com/rel", version: "v1.4.0-beta"},
		// Only a prerelease and a pseudo-version: the prerelease wins.
		testMod{path: "example.com/pre", version: "v0.1.0-beta"},
		testMod{path: "example.com/pre", version: "v0.1.1-0.20240101000000-abcdefabcdef"},
		// Only pseudo-versions: the highest.
		testMod{path: "example.com/pseudo", version: "v0.0.0-20240101000000-abcdefabcdef"},
		testMod{path: "example.com/pseudo", version: "v0.0.0-20240202000000-abcdefabcdef"},
		// Everything retracted: the highest anyway.
		testMod{path: "example.com/allretracted", version: "v1.0.0", mod: "module example.com/allretracted\nretract v1.0.0\n"},
		// No .info anywhere.
		testMod{path: "example.com/noinfo", version: "v1.0.0", noInfo: true},
	)
	_, ts, _ := startServer(t, Options{Bundles: []string{dir}})
	for mod, want := range map[string]string{
		"example.com/rel":          "v1.1.0",
		"example.com/pre":          "v0.1.0-beta",
		"example.com/pseudo":       "v0.0.0-20240202000000-abcdefabcdef",
		"example.com/allretracted": "v1.0.0",
	} {
		resp, body := mustGet(t, "GET", ts.URL+"/"+mod+"/@latest")
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"Version":"`+want+`"`) {
			t.Errorf("%s/@latest: %d %s, want %s", mod, resp.StatusCode, body, want)
		}
		if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/json" || cc != "public, max-age=60" {
			t.Errorf("%s/@latest: Content-Type %q Cache-Control %q", mod, ct, cc)
		}
	}
	resp, body := mustGet(t, "GET", ts.URL+"/example.com/noinfo/@latest")
	if resp.StatusCode != 404 || !strings.Contains(string(body), "example.com/noinfo") {
		t.Errorf("noinfo/@latest: %d %s", resp.StatusCode, body)
	}
}

func TestNotFoundAndBadRequests(t *testing.T) {
	name, _ := protocolBundle(t)
	_, ts, _ := startServer(t, Options{Bundles: []string{name}})
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/example.com/missing/@v/list", 404, "module example.com/missing is not in the loaded bundles (p.gobundle)"},
		{"GET", "/example.com/missing/@v/v1.0.0.info", 404, "module example.com/missing is not in the loaded bundles"},
		{"GET", "/example.com/missing/@latest", 404, "module example.com/missing is not in the loaded bundles"},
		{"GET", "/example.com/a/@v/v9.9.9.info", 404, "example.com/a@v9.9.9 is not in the loaded bundles"},
		{"GET", "/example.com/a/@v/master.info", 404, "example.com/a@master is not in the loaded bundles"},
		{"GET", "/github.com/!burnt!sushi/toml/@v/v1.3.0-!r!c2.mod", 404, "github.com/BurntSushi/toml@v1.3.0-RC2 is not in the loaded bundles"},
		// Path-prefix probes of go get.
		{"GET", "/example.com/@v/v1.0.0.info", 404, "module example.com is not in the loaded bundles"},
		{"GET", "/github.com/@v/list", 404, "not in the loaded bundles"},
		// Not protocol paths; no listings.
		{"GET", "/", 404, "not a GOPROXY protocol path"},
		{"GET", "/example.com/", 404, "not a GOPROXY protocol path"},
		{"GET", "/example.com/a/@v/", 404, "not a GOPROXY protocol path"},
		{"GET", "/example.com/a/@v/v1.0.0.tar", 404, "not a GOPROXY protocol path"},
		{"GET", "/example.com/a/@v/v1.0.0/x.zip", 404, "not a GOPROXY protocol path"},
		{"GET", "/sumdb/sum.example.org/supported", 404, "no checksum database"},
		// Traversal attempts.
		{"GET", "/example.com/a/../../etc/passwd", 404, "not a GOPROXY protocol path"},
		{"GET", "/example.com/a/../b/@v/list", 400, "invalid escaped module path"},
		{"GET", "/example.com/a/%2e%2e/b/@v/list", 400, "invalid escaped module path"},
		{"GET", "/example.com/a/@v/..%2f..%2fetc.info", 404, "not a GOPROXY protocol path"},
		{"GET", "/example.com/a/@v/...info", 400, "invalid escaped version"},
		// Odd escapes.
		{"GET", "/github.com/BurntSushi/toml/@v/list", 400, "invalid escaped module path"},
		{"GET", "/github.com/!!burnt/toml/@v/list", 400, "invalid escaped module path"},
		{"GET", "/github.com/!burnt!/toml/@v/list", 400, "invalid escaped module path"},
		{"GET", "/example.com/a/@v/v1.0.0-!R.info", 400, "invalid escaped version"},
		{"GET", "/example.com/a/@v/v1.0.0-X.info", 400, "invalid escaped version"},
		{"GET", "/" + strings.Repeat("a", 3000) + "/@v/list", 400, "path longer than"},
		// Methods.
		{"POST", "/example.com/a/@v/list", 405, "method POST not allowed"},
		{"PUT", "/example.com/a/@v/v1.0.0.mod", 405, "method PUT not allowed"},
		{"DELETE", "/example.com/a/@v/v1.0.0.zip", 405, "method DELETE not allowed"},
		{"OPTIONS", "/healthz", 405, "method OPTIONS not allowed"},
	} {
		resp, body := mustGet(t, tc.method, ts.URL+tc.path)
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s %s: %d %q, want %d containing %q", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
		if tc.code == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, resp.Header.Get("Allow"))
		}
		if resp.Header.Get("ETag") != "" {
			t.Errorf("%s %s: error with an ETag", tc.method, tc.path)
		}
	}
}

func TestConditionalAndRange(t *testing.T) {
	name, _ := protocolBundle(t)
	_, ts, _ := startServer(t, Options{Bundles: []string{name}})
	for _, path := range []string{"/example.com/a/@v/v1.0.0.mod", "/example.com/a/@v/v1.0.0.zip", "/example.com/a/@v/v1.0.0.info", "/example.com/a/@v/list", "/example.com/a/@latest"} {
		resp, body := mustGet(t, "GET", ts.URL+path)
		tag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || tag == "" {
			t.Fatalf("%s: %d ETag %q", path, resp.StatusCode, tag)
		}
		for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
			resp, b := mustGet(t, "GET", ts.URL+path, "If-None-Match: "+inm)
			if resp.StatusCode != 304 || len(b) != 0 || resp.Header.Get("ETag") != tag {
				t.Errorf("%s If-None-Match %s: %d %q ETag %q", path, inm, resp.StatusCode, b, resp.Header.Get("ETag"))
			}
		}
		resp, _ = mustGet(t, "GET", ts.URL+path, `If-None-Match: "other"`)
		if resp.StatusCode != 200 {
			t.Errorf("%s If-None-Match other: %d", path, resp.StatusCode)
		}
		resp, b := mustGet(t, "GET", ts.URL+path, "Range: bytes=2-5")
		if resp.StatusCode != 206 || !bytes.Equal(b, body[2:6]) || resp.Header.Get("Content-Range") != "bytes 2-5/"+strconv.Itoa(len(body)) {
			t.Errorf("%s Range 2-5: %d %q Content-Range %q", path, resp.StatusCode, b, resp.Header.Get("Content-Range"))
		}
		resp, b = mustGet(t, "GET", ts.URL+path, "Range: bytes=-3")
		if resp.StatusCode != 206 || !bytes.Equal(b, body[len(body)-3:]) {
			t.Errorf("%s Range -3: %d %q", path, resp.StatusCode, b)
		}
		// Several ranges are answered with the whole file (issue 11: a
		// crafted list of ranges made a small file a large answer).
		for _, rng := range []string{"bytes=0-1,4-5", "bytes=" + strings.Repeat("0-,", 5000) + "0-", "bytes=0-" + strings.Repeat("0", 200)} {
			resp, b = mustGet(t, "GET", ts.URL+path, "Range: "+rng)
			if resp.StatusCode != 200 || !bytes.Equal(b, body) {
				t.Errorf("%s Range %.20s...: %d, %d bytes of %d", path, rng, resp.StatusCode, len(b), len(body))
			}
		}
		resp, _ = mustGet(t, "GET", ts.URL+path, "Range: bytes=100000-")
		if resp.StatusCode != 416 {
			t.Errorf("%s Range past end: %d", path, resp.StatusCode)
		}
	}
}

func TestConflictAndUnion(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.gobundle")
	b := filepath.Join(dir, "b.gobundle")
	c := filepath.Join(t.TempDir(), "c.gobundle")
	shared := testMod{path: "example.com/shared", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/shared\n", "s.go": "package shared\n"}}
	writeBundle(t, a, 0, shared, testMod{path: "example.com/onlya", version: "v1.0.0"}, testMod{path: "example.com/both", version: "v1.0.0"})
	writeBundle(t, b, 0, shared, testMod{path: "example.com/onlyb", version: "v1.0.0"}, testMod{path: "example.com/both", version: "v1.1.0"})
	changed := shared
	changed.files = map[string]string{"go.mod": "module example.com/shared\n", "s.go": "package shared // changed\n"}
	writeBundle(t, c, 0, changed)

	_, ts, _ := startServer(t, Options{Bundles: []string{dir}})
	for path, want := range map[string]string{
		"/example.com/onlya/@v/list":  "v1.0.0\n",
		"/example.com/onlyb/@v/list":  "v1.0.0\n",
		"/example.com/both/@v/list":   "v1.0.0\nv1.1.0\n",
		"/example.com/shared/@v/list": "v1.0.0\n",
	} {
		resp, body := mustGet(t, "GET", ts.URL+path)
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("%s: %d %q, want %q", path, resp.StatusCode, body, want)
		}
	}

	_, err := New(context.Background(), Options{Bundles: []string{a, c}})
	var ce *ConflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), c) ||
		!strings.Contains(err.Error(), "example.com/shared@v1.0.0: zip differs") {
		t.Errorf("conflicting bundles: %v", err)
	}
}
