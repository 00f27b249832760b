package serve

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// BenchmarkMod measures the handler alone on a hot .mod request.
func BenchmarkMod(b *testing.B) {
	name := filepath.Join(b.TempDir(), "b.gobundle")
	writeBundle(b, name, 0, testMod{path: "example.com/a", version: "v1.0.0", mod: "module example.com/a\n\ngo 1.22\n\nrequire example.com/b v1.0.0\n"})
	s, _, _ := startServer(b, Options{Bundles: []string{name}})
	s.opts.AccessLog = false
	req := httptest.NewRequest("GET", "/example.com/a/@v/v1.0.0.mod", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkStartup measures building the merged view of a bundle with
// 10,000 module versions.
func BenchmarkStartup(b *testing.B) {
	name := filepath.Join(b.TempDir(), "b.gobundle")
	var mods []testMod
	for i := range 10000 {
		mods = append(mods, testMod{path: fmt.Sprintf("example.com/m%d", i/4), version: fmt.Sprintf("v1.0.%d", i%4)})
	}
	writeBundle(b, name, 0, mods...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := New(b.Context(), Options{Bundles: []string{name}})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
