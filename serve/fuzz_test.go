package serve

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPath sends arbitrary paths: the answer is never a panic or a server
// error, and a 200 only ever comes for a module of the bundle or an
// operations endpoint.
func FuzzPath(f *testing.F) {
	for _, p := range []string{
		"/example.com/a/@v/list", "/example.com/a/@v/v1.0.0.zip", "/example.com/a/@latest",
		"/github.com/!burnt!sushi/toml/@v/v1.3.0-!r!c1.info", "/../etc/passwd", "/example.com/a/@v/../../x.mod",
		"/%00/@v/list", "/a/@v/.info", "/@v/list", "/@latest", "//@v/v1.0.0.mod", "/sumdb/x/lookup/a@v1",
	} {
		f.Add(p)
	}
	name := filepath.Join(f.TempDir(), "f.gobundle")
	writeBundle(f, name, 0, testMod{path: "example.com/a", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/a\n"}},
		testMod{path: "github.com/BurntSushi/toml", version: "v1.3.0-RC1"})
	s, _, _ := startServer(f, Options{Bundles: []string{name}})
	f.Fuzz(func(t *testing.T, p string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL = &url.URL{Path: p}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			if !strings.HasPrefix(p, "/example.com/a/") && !strings.HasPrefix(p, "/github.com/!burnt!sushi/toml/") && p != "/healthz" && p != "/metrics" {
				t.Errorf("%q: 200", p)
			}
		case http.StatusBadRequest, http.StatusNotFound:
		default:
			t.Errorf("%q: %d %s", p, w.Code, w.Body)
		}
	})
}
