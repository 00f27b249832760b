package serve

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/testkit"
)

// TestSignerKeys: with trusted keys, a named bundle that is not signed by
// one stops the start, one in a directory is skipped with an error in the
// log, /healthz and a metric, and signed ones are served.
func TestSignerKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	builder, builderPub := testkit.NoteKey(t, "builder")
	other, otherPub := testkit.NoteKey(t, "other")
	signed := filepath.Join(dir, "a.gobundle")
	writeBundle(t, signed, 0, testMod{path: "example.com/a", version: "v1.0.0"})
	if _, err := bundle.SignFile(ctx, signed, builder); err != nil {
		t.Fatal(err)
	}
	unsigned := filepath.Join(dir, "b.gobundle")
	writeBundle(t, unsigned, 0, testMod{path: "example.com/b", version: "v1.0.0"})
	byOther := filepath.Join(dir, "c.gobundle")
	writeBundle(t, byOther, 0, testMod{path: "example.com/c", version: "v1.0.0"})
	if _, err := bundle.SignFile(ctx, byOther, other); err != nil {
		t.Fatal(err)
	}
	keys := []note.Verifier{builderPub}

	for name, want := range map[string]string{unsigned: "not signed", byOther: "signed only by keys not trusted here: other+"} {
		_, err := New(ctx, Options{Bundles: []string{signed, name}, SignerKeys: keys})
		var se *bundle.SignatureError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), filepath.Base(name)) || !strings.Contains(err.Error(), want) {
			t.Errorf("named %s: New = %v, want a signature error saying %q", filepath.Base(name), err, want)
		}
	}

	s, ts, logs := startServer(t, Options{Bundles: []string{dir}, SignerKeys: keys})
	if st := s.Stats(); len(st.Bundles) != 1 || len(st.Bad) != 2 {
		t.Fatalf("serving %v, skipped %v", st.Bundles, st.Bad)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"skipping bundle not signed by a trusted key\"") || !strings.Contains(logs.String(), "c.gobundle") {
		t.Errorf("log does not name the untrusted bundles:\n%s", logs)
	}
	if resp, _ := mustGet(t, "GET", ts.URL+"/example.com/a/@v/v1.0.0.mod"); resp.StatusCode != 200 {
		t.Errorf("signed bundle's module: %d", resp.StatusCode)
	}
	if resp, _ := mustGet(t, "GET", ts.URL+"/example.com/b/@v/v1.0.0.mod"); resp.StatusCode != 404 {
		t.Errorf("unsigned bundle's module: %d", resp.StatusCode)
	}
	_, body := mustGet(t, "GET", ts.URL+"/metrics")
	if !strings.Contains(string(body), "gobundle_serve_bundles_untrusted 2\n") {
		t.Errorf("metrics lack the untrusted count:\n%s", body)
	}
	_, body = mustGet(t, "GET", ts.URL+"/healthz")
	if !strings.Contains(string(body), "b.gobundle: ") || !strings.Contains(string(body), "not signed") {
		t.Errorf("healthz: %s", body)
	}

	// Both keys, all required: only a bundle signed by both is served.
	if _, err := bundle.SignFile(ctx, signed, other); err != nil {
		t.Fatal(err)
	}
	s2, _, _ := startServer(t, Options{Bundles: []string{dir}, SignerKeys: []note.Verifier{builderPub, otherPub}, RequireAllSigners: true})
	if st := s2.Stats(); len(st.Bundles) != 1 || filepath.Base(st.Bundles[0]) != "a.gobundle" {
		t.Fatalf("require all: serving %v, skipped %v", st.Bundles, st.Bad)
	}
}
