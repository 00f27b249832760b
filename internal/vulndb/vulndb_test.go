package vulndb

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/bundle"
)

const entryA = `{"schema_version":"1.3.1","id":"GO-2024-0001","modified":"2024-05-01T00:00:00Z","aliases":["CVE-2024-1"],
"affected":[{"package":{"name":"example.com/vuln","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.0"}]}]},
{"package":{"name":"example.com/vuln","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"2.0.0"},{"fixed":"2.0.3"}]}]}],"details":"a"}`

const entryB = `{"id":"GO-2024-0002","modified":"2024-06-01T00:00:00Z",
"affected":[{"package":{"name":"example.com/vuln","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.5"},{"introduced":"1.2.0"}]}]},
{"package":{"name":"example.com/other","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}],"details":"b"}`

func writeVulnZip(t *testing.T, mv module.Version, files map[string]string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "vulndb.zip")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for n, c := range files {
		w, _ := zw.Create(mv.Path + "@" + mv.Version + "/" + n)
		w.Write([]byte(c))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return name
}

func TestFromZip(t *testing.T) {
	mv := module.Version{Path: ModulePath, Version: "v0.0.0-20240601000000-abcdefabcdef"}
	zf := writeVulnZip(t, mv, map[string]string{
		"data/osv/GO-2024-0001.json":     entryA,
		"data/osv/GO-2024-0002.json":     entryB,
		"data/reports/GO-2024-0001.yaml": "not read",
		"go.mod":                         "module golang.org/x/vulndb\n",
	})
	db, err := FromZip(context.Background(), mv, zf)
	if err != nil {
		t.Fatal(err)
	}
	if db.Entries != 2 || len(db.Files) != 5 {
		t.Fatalf("entries %d files %d", db.Entries, len(db.Files))
	}
	if got := string(db.Files[DBFile]); got != `{"modified":"2024-06-01T00:00:00Z"}` {
		t.Errorf("db.json %s", got)
	}
	// GO-2024-0001: the newest fix of the two blocks; GO-2024-0002: its
	// fix is superseded by a later introduction, so none.
	want := `[{"path":"example.com/other","vulns":[{"id":"GO-2024-0002","modified":"2024-06-01T00:00:00Z"}]},` +
		`{"path":"example.com/vuln","vulns":[{"id":"GO-2024-0001","modified":"2024-05-01T00:00:00Z","fixed":"2.0.3"},{"id":"GO-2024-0002","modified":"2024-06-01T00:00:00Z"}]}]`
	if got := string(db.Files[ModulesFile]); got != want {
		t.Errorf("modules.json\n%s\nwant\n%s", got, want)
	}
	if got := string(db.Files[VulnsFile]); got != `[{"id":"GO-2024-0001","modified":"2024-05-01T00:00:00Z","aliases":["CVE-2024-1"]},{"id":"GO-2024-0002","modified":"2024-06-01T00:00:00Z"}]` {
		t.Errorf("vulns.json %s", got)
	}
	if string(db.Files["ID/GO-2024-0001.json"]) != entryA {
		t.Error("entry not stored as the module holds it")
	}

	// Into a bundle and back, then onto disk.
	ctx := context.Background()
	w, err := bundle.NewWriter(bundle.WriterOptions{TempDir: t.TempDir(), Level: zstd.SpeedFastest,
		Properties: []bundle.Property{{Key: PropModule, Value: mv.String()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, x := range db.Extras("test") {
		if err := w.AddExtra(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	bf := filepath.Join(t.TempDir(), "v.gobundle")
	if _, err := w.WriteFile(ctx, bf); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.Open(ctx, bf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := Load(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 2 || st.Module != mv.String() || st.Modified.Format("2006-01-02") != "2024-06-01" ||
		strings.Join(st.IDs(), ",") != "GO-2024-0001,GO-2024-0002" {
		t.Fatalf("loaded %+v", st.Summary)
	}
	dir := t.TempDir()
	if err := st.Unpack(ctx, dir); err != nil {
		t.Fatal(err)
	}
	for name, data := range db.Files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || string(got) != string(data) {
			t.Errorf("unpacked %s: %v", name, err)
		}
	}
}

func TestFromZipBad(t *testing.T) {
	mv := module.Version{Path: ModulePath, Version: "v0.0.0-20240601000000-abcdefabcdef"}
	for name, files := range map[string]map[string]string{
		"empty":       {"go.mod": "module golang.org/x/vulndb\n"},
		"bad id":      {"data/osv/..evil.json": entryA},
		"id mismatch": {"data/osv/GO-2024-0009.json": entryA},
		"not json":    {"data/osv/GO-2024-0001.json": "{"},
	} {
		if _, err := FromZip(context.Background(), mv, writeVulnZip(t, mv, files)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// fakeSource is a bundle's extras in memory.
type fakeSource struct{ files map[string]string }

func (f fakeSource) Meta() bundle.Meta { return bundle.Meta{} }
func (f fakeSource) Extras() []bundle.Extra {
	var out []bundle.Extra
	for n, c := range f.files {
		out = append(out, bundle.Extra{Kind: Kind, Name: n, Size: int64(len(c))})
	}
	return out
}
func (f fakeSource) ReadExtra(ctx context.Context, kind, name string) ([]byte, error) {
	return []byte(f.files[name]), nil
}

// TestLoadHostile: a crafted database is refused, naming the culprit.
func TestLoadHostile(t *testing.T) {
	ok := map[string]string{DBFile: `{"modified":"2024-01-01T00:00:00Z"}`, ModulesFile: `[]`, VulnsFile: `[{"id":"GO-2024-0001"}]`, "ID/GO-2024-0001.json": entryA}
	if _, err := Load(context.Background(), fakeSource{ok}); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string][2]string{
		"path escape":     {"ID/../../etc/passwd.json", "x"},
		"other file":      {"README", "x"},
		"unlisted entry":  {"ID/GO-2024-0002.json", entryB},
		"missing entry":   {VulnsFile, `[{"id":"GO-2024-0001"},{"id":"GO-2024-0003"}]`},
		"modules missing": {ModulesFile, `[{"path":"x","vulns":[{"id":"GO-2024-0004"}]}]`},
		"bad index":       {DBFile, `[`},
	} {
		files := map[string]string{}
		for k, v := range ok {
			files[k] = v
		}
		files[change[0]] = change[1]
		if _, err := Load(context.Background(), fakeSource{files}); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := Load(context.Background(), fakeSource{map[string]string{}}); err != ErrNone {
		t.Errorf("no database: %v", err)
	}
}
