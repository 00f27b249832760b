package bundlediff

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gobundle/gobundle/bundle"
)

type mv struct{ path, version, time string }

func write(t *testing.T, name string, mods ...mv) *bundle.Reader {
	t.Helper()
	ctx := context.Background()
	w, err := bundle.NewWriter(bundle.WriterOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, m := range mods {
		info := fmt.Sprintf(`{"Version":%q,"Time":%q}`, m.version, m.time)
		if err := w.AddModule(ctx, bundle.ModuleSource{Path: m.path, Version: m.version, Info: []byte(info), Mod: []byte("module " + m.path + "\n")}); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), name)
	if _, err := w.WriteFile(ctx, out); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestCompare(t *testing.T) {
	const t1, t2 = "2024-01-01T00:00:00Z", "2024-02-02T00:00:00Z"
	old := write(t, "old.gobundle", mv{"example.com/a", "v1.0.0", t1}, mv{"example.com/gone", "v1.0.0", t1},
		mv{"example.com/same", "v1.0.0", t1}, mv{ToolchainPath, "v0.0.1-go1.22.0.linux-amd64", t1})
	new := write(t, "new.gobundle", mv{"example.com/a", "v1.0.0", t2}, mv{"example.com/b", "v1.1.0", t1},
		mv{"example.com/same", "v1.0.0", t1}, mv{ToolchainPath, "v0.0.1-go1.23.0.linux-amd64", t1})
	res := Compare([]*bundle.Reader{old}, []*bundle.Reader{new})
	one := func(what string, l []Entry, want string) {
		if len(l) != 1 || l[0].Path+"@"+l[0].Version != want || l[0].Bytes <= 0 {
			t.Errorf("%s = %+v, want %s", what, l, want)
		}
	}
	one("added", res.Added, "example.com/b@v1.1.0")
	one("removed", res.Removed, "example.com/gone@v1.0.0")
	one("changed", res.Changed, "example.com/a@v1.0.0")
	one("toolchains added", res.ToolchainsAdded, ToolchainPath+"@v0.0.1-go1.23.0.linux-amd64")
	one("toolchains removed", res.ToolchainsRemoved, ToolchainPath+"@v0.0.1-go1.22.0.linux-amd64")
	if len(res.Changed) == 1 && (len(res.Changed[0].What) != 1 || res.Changed[0].What[0] != "info") {
		t.Errorf("changed files: %v, want [info]", res.Changed[0].What)
	}
	if res.AddedBytes != res.Added[0].Bytes+res.ToolchainsAdded[0].Bytes {
		t.Errorf("added bytes %d", res.AddedBytes)
	}
}
