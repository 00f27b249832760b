package serve

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/bundle"
)

// TestSameBytesAsUnpack checks that serve and a `gobundle unpack` tree of
// the same bundle answer every request of the tree with the same bytes,
// and that serve has no module file the tree lacks.
func TestSameBytesAsUnpack(t *testing.T) {
	name, _ := protocolBundle(t)
	r, err := bundle.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tree := t.TempDir()
	if err := r.Unpack(context.Background(), tree, nil); err != nil {
		t.Fatal(err)
	}
	_, ts, _ := startServer(t, Options{Bundles: []string{name}})

	inTree := map[string]bool{}
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		url := "/" + filepath.ToSlash(rel)
		inTree[url] = true
		resp, body := mustGet(t, "GET", ts.URL+url)
		if want := mustRead(t, p); resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("%s: serve answers %d with %d bytes, the unpacked tree has %d bytes", url, resp.StatusCode, len(body), len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(inTree) < 10 {
		t.Fatalf("unpacked tree holds only %d files", len(inTree))
	}
	for _, m := range r.Modules() {
		for kind, fi := range map[string]*bundle.FileInfo{"info": m.Info, "mod": m.Mod, "zip": m.Zip} {
			if fi == nil {
				continue
			}
			escPath, err1 := module.EscapePath(m.Path)
			escVer, err2 := module.EscapeVersion(m.Version)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s@%s: %v %v", m.Path, m.Version, err1, err2)
			}
			url := "/" + escPath + "/@v/" + escVer + "." + kind
			if !inTree[url] {
				t.Errorf("%s: served but not in the unpacked tree", url)
			}
		}
	}
}
