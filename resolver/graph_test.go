package resolver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// fakeMirror serves go.mod files from memory and zips it builds on disk.
type fakeMirror struct {
	t    *testing.T
	dir  string
	mods map[module.Version]string // go.mod content

	mu    sync.Mutex
	calls map[string]int // "path@version kind" → count
}

func newFakeMirror(t *testing.T, mods map[string]string) *fakeMirror {
	f := &fakeMirror{t: t, dir: t.TempDir(), mods: map[module.Version]string{}, calls: map[string]int{}}
	for k, v := range mods {
		path, vers, _ := strings.Cut(k, "@")
		f.mods[module.Version{Path: path, Version: vers}] = v
	}
	return f
}

func (f *fakeMirror) count(path, version, kind string) {
	f.mu.Lock()
	f.calls[path+"@"+version+" "+kind]++
	f.mu.Unlock()
}

func (f *fakeMirror) fetched(kind string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.calls {
		if mv, ok := strings.CutSuffix(k, " "+kind); ok {
			out = append(out, mv)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeMirror) ReadFile(ctx context.Context, path, version, kind string) ([]byte, Fetched, error) {
	if err := ctx.Err(); err != nil {
		return nil, Fetched{}, err
	}
	f.count(path, version, kind)
	gm, ok := f.mods[module.Version{Path: path, Version: version}]
	if !ok {
		return nil, Fetched{}, fmt.Errorf("fake: %s@%s.%s: %w", path, version, kind, fs.ErrNotExist)
	}
	var data []byte
	switch kind {
	case "mod":
		data = []byte(gm)
	case "info":
		data = fmt.Appendf(nil, `{"Version":%q,"Time":"2020-01-01T00:00:00Z"}`, version)
	default:
		return nil, Fetched{}, fmt.Errorf("fake: ReadFile of %s", kind)
	}
	return data, Fetched{Size: int64(len(data)), Origin: "fake"}, nil
}

func (f *fakeMirror) Fetch(ctx context.Context, path, version, kind string) (Fetched, error) {
	if kind != "zip" {
		_, fd, err := f.ReadFile(ctx, path, version, kind)
		return fd, err
	}
	if err := ctx.Err(); err != nil {
		return Fetched{}, err
	}
	f.count(path, version, kind)
	m := module.Version{Path: path, Version: version}
	gm, ok := f.mods[m]
	if !ok {
		return Fetched{}, fmt.Errorf("fake: %s@%s.zip: %w", path, version, fs.ErrNotExist)
	}
	file := filepath.Join(f.dir, strings.ReplaceAll(path, "/", "_")+"@"+version+".zip")
	// Concurrent fetches of one zip (prefetch and zip phase) must not see
	// it half written.
	f.mu.Lock()
	_, err := os.Stat(file)
	if err != nil {
		err = writeZip(file, m, gm)
	}
	f.mu.Unlock()
	if err != nil {
		return Fetched{}, err
	}
	st, err := os.Stat(file)
	if err != nil {
		return Fetched{}, err
	}
	return Fetched{File: file, Size: st.Size(), Origin: "fake"}, nil
}

func (f *fakeMirror) Chain() []string { return []string{"fake"} }

func (f *fakeMirror) Forget(ctx context.Context, path, version, kind string) error {
	f.count(path, version, kind+" forget")
	return nil
}

func writeZip(file string, m module.Version, gomod string) error {
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	files := []modzip.File{memFile{"go.mod", gomod}, memFile{"x.go", "package x\n"}}
	if strings.HasSuffix(m.Version, "+incompatible") {
		files = files[1:]
	}
	if err := modzip.Create(out, m, files); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

type memFile struct{ name, data string }

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (fs.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// fakeSumDB refuses the hashes listed in bad ("path@version" or
// "path@version/go.mod").
type fakeSumDB struct {
	mu    sync.Mutex
	bad   map[string]bool
	calls int
}

func (s *fakeSumDB) Covers(string) bool { return true }

func (s *fakeSumDB) Check(ctx context.Context, path, version string, isMod bool, h1 string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	k := path + "@" + version
	if isMod {
		k += "/go.mod"
	}
	if s.bad[k] {
		return fmt.Errorf("verifying %s: checksum mismatch: database has h1:other", k)
	}
	return nil
}

// writeTree writes files (name → content) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustInput(t *testing.T, arg string) Input {
	t.Helper()
	in, err := ParseInput(arg, "")
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func runResolve(t *testing.T, f *fakeMirror, c sumChecker, allZips bool, ins ...Input) (*Result, error) {
	t.Helper()
	return resolve(context.Background(), Config{Inputs: ins, AllZips: allZips, Jobs: 4}, f, c)
}

// moduleSet lists the result's module versions, marking those with a zip.
func moduleSet(r *Result) []string {
	var out []string
	for _, m := range r.Modules {
		s := m.Path + "@" + m.Version
		if m.Zip != nil {
			s += " zip"
		}
		out = append(out, s)
	}
	return out
}

func wantSet(t *testing.T, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("modules:\n got  %q\n want %q", got, want)
	}
}

func TestMVSFullGraph(t *testing.T) {
	f := newFakeMirror(t, map[string]string{
		"example.com/a@v1.0.0": "module example.com/a\ngo 1.16\nrequire example.com/c v1.1.0\n",
		"example.com/b@v1.0.0": "module example.com/b\ngo 1.16\nrequire example.com/c v1.2.0\n",
		"example.com/c@v1.1.0": "module example.com/c\ngo 1.16\nrequire example.com/d v1.0.0\n",
		"example.com/c@v1.2.0": "module example.com/c\ngo 1.16\n",
		"example.com/d@v1.0.0": "module example.com/d\ngo 1.16\n",
	})
	dir := writeTree(t, map[string]string{
		"go.mod": "module example.com/main\ngo 1.16\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.0.0\n)\n",
	})
	r, err := runResolve(t, f, nil, false, mustInput(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	// c v1.1.0 is in the graph (its .mod and .info are bundled) but MVS
	// selects c v1.2.0; d is required only by c v1.1.0, yet stays in the
	// unpruned build list, as the go command's own MVS keeps it.
	wantSet(t, moduleSet(r), "example.com/a@v1.0.0 zip", "example.com/b@v1.0.0 zip",
		"example.com/c@v1.1.0", "example.com/c@v1.2.0 zip", "example.com/d@v1.0.0 zip")
	if r.Stats.Nodes != 5 || r.Stats.Edges != 5 || r.Stats.BuildList != 4 || r.Stats.Zips != 4 || r.Stats.Files != 14 {
		t.Errorf("stats = %+v", r.Stats)
	}
	for _, m := range r.Modules {
		if len(m.Info) == 0 || len(m.Mod) == 0 || !strings.HasPrefix(m.ModHash, "h1:") || m.ModOrigin != "fake" {
			t.Errorf("%s@%s: incomplete: %+v", m.Path, m.Version, m)
		}
		if m.Zip != nil && !strings.HasPrefix(m.ZipHash, "h1:") {
			t.Errorf("%s@%s: zip hash %q", m.Path, m.Version, m.ZipHash)
		}
	}
	if got := f.fetched("zip"); len(got) != 4 {
		t.Errorf("zips fetched: %q", got)
	}
}

func TestZipsFollowGraphPruning(t *testing.T) {
	mods := map[string]string{
		"example.com/a@v1.0.0": "module example.com/a\ngo 1.21\nrequire example.com/b v1.0.0\n",
		"example.com/b@v1.0.0": "module example.com/b\ngo 1.21\nrequire example.com/x v1.1.0\n",
		"example.com/x@v1.0.0": "module example.com/x\ngo 1.21\n",
		"example.com/x@v1.1.0": "module example.com/x\ngo 1.21\n",
	}
	for _, tc := range []struct {
		goLine string
		want   []string
	}{
		// Pruned: b's requirements are not loaded, so the go command
		// selects x v1.0.0 while the full graph selects x v1.1.0, which
		// no go command needs.
		{"1.21", []string{"example.com/a@v1.0.0 zip", "example.com/b@v1.0.0 zip", "example.com/x@v1.0.0 zip", "example.com/x@v1.1.0"}},
		// go 1.17: go mod tidy also checks the unpruned (go 1.16) graph.
		{"1.17", []string{"example.com/a@v1.0.0 zip", "example.com/b@v1.0.0 zip", "example.com/x@v1.0.0 zip", "example.com/x@v1.1.0 zip"}},
		{"1.16", []string{"example.com/a@v1.0.0 zip", "example.com/b@v1.0.0 zip", "example.com/x@v1.0.0", "example.com/x@v1.1.0 zip"}},
	} {
		t.Run(tc.goLine, func(t *testing.T) {
			f := newFakeMirror(t, mods)
			dir := writeTree(t, map[string]string{
				"go.mod": "module example.com/main\ngo " + tc.goLine + "\nrequire (\n\texample.com/a v1.0.0\n\texample.com/x v1.0.0\n)\n",
			})
			r, err := runResolve(t, f, nil, false, mustInput(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			wantSet(t, moduleSet(r), tc.want...)
		})
	}
}

func TestPrunedBuildListLoadsUnprunedDeps(t *testing.T) {
	g := &graph{
		reqs: map[module.Version][]module.Version{
			{Path: "m"}:                    {{Path: "a", Version: "v1.0.0"}},
			{Path: "a", Version: "v1.0.0"}: {{Path: "b", Version: "v1.0.0"}},
			{Path: "b", Version: "v1.0.0"}: {{Path: "c", Version: "v1.0.0"}},
			{Path: "c", Version: "v1.0.0"}: {{Path: "d", Version: "v1.0.0"}},
		},
		goVer: map[module.Version]string{
			{Path: "a", Version: "v1.0.0"}: "1.14", // unpruned: everything below loads
			{Path: "b", Version: "v1.0.0"}: "1.21",
			{Path: "c", Version: "v1.0.0"}: "1.21",
		},
	}
	p := &project{mains: []mainModule{{Path: "m"}}}
	got := g.prunedBuildList(p, false)
	want := []module.Version{{Path: "a", Version: "v1.0.0"}, {Path: "b", Version: "v1.0.0"}, {Path: "c", Version: "v1.0.0"}, {Path: "d", Version: "v1.0.0"}}
	if !slices.Equal(got, want) {
		t.Errorf("pruned build list = %v, want %v", got, want)
	}
	g.goVer[module.Version{Path: "a", Version: "v1.0.0"}] = "1.21"
	got = g.prunedBuildList(p, false)
	want = want[:2]
	if !slices.Equal(got, want) {
		t.Errorf("pruned build list with pruned a = %v, want %v", got, want)
	}
}

func TestWorkspaceBuildList(t *testing.T) {
	v := func(p string) module.Version { return module.Version{Path: p, Version: "v1.0.0"} }
	v2 := func(p string) module.Version { return module.Version{Path: p, Version: "v2.0.0"} }
	g := &graph{
		reqs: map[module.Version][]module.Version{
			{Path: "m"}: {v("a"), v("d")},
			v("a"):      {v("b")},
			v("b"):      {v("c")},
			v("d"):      {v2("a")},
			v2("a"):     {v("f")},
			v("f"):      {v("g")},
		},
		goVer: map[module.Version]string{},
	}
	for m := range g.reqs {
		g.goVer[m] = "1.21"
	}
	p := &project{mains: []mainModule{{Path: "m", Go: "1.21"}}}
	// Pruned: only the main module's requirements are loaded: d's
	// requirement on a v2.0.0 counts, a v2.0.0's own do not.
	want := []module.Version{v2("a"), v("b"), v("d")}
	if got := g.prunedBuildList(p, false); !slices.Equal(got, want) {
		t.Errorf("pruned = %v, want %v", got, want)
	}
	// Workspace: a, selected at v2.0.0 above the v1.0.0 the main module
	// asks for, is loaded in workspace mode, which loads f and so counts g.
	want = []module.Version{v2("a"), v("b"), v("d"), v("f"), v("g")}
	if got := g.prunedBuildList(p, true); !slices.Equal(got, want) {
		t.Errorf("workspace = %v, want %v", got, want)
	}
}

func TestReplaceAndExclude(t *testing.T) {
	f := newFakeMirror(t, map[string]string{
		"example.com/a@v1.0.0":    "module example.com/a\ngo 1.16\nrequire example.com/old v1.0.0\nrequire example.com/bad v1.1.0\n",
		"example.com/fork@v1.5.0": "module example.com/fork\ngo 1.16\nrequire example.com/e v1.0.0\n",
		"example.com/e@v1.0.0":    "module example.com/e\ngo 1.16\n",
		"example.com/bad@v1.0.0":  "module example.com/bad\ngo 1.16\n",
		"example.com/f@v1.0.0":    "module example.com/f\ngo 1.16\n",
		"example.com/g@v2.0.0":    "module example.com/g/v2\ngo 1.16\n",
		"example.com/g/v2@v2.1.0": "module example.com/g/v2\ngo 1.16\n",
	})
	// example.com/old@v1.0.0 and example.com/bad@v1.1.0 do not exist: the
	// first is replaced, the second excluded.
	dir := writeTree(t, map[string]string{
		"app/go.mod": `module example.com/main
go 1.16
require (
	example.com/a v1.0.0
	example.com/bad v1.0.0
	example.com/local v1.0.0
	example.com/g/v2 v2.0.0
)
replace example.com/old => example.com/fork v1.5.0
replace example.com/local v1.0.0 => ../local
replace example.com/g/v2 v2.0.0 => example.com/g/v2 v2.1.0
exclude example.com/bad v1.1.0
`,
		"local/go.mod": "module example.com/local\ngo 1.16\nrequire example.com/f v1.0.0\n",
	})
	r, err := runResolve(t, f, nil, false, mustInput(t, filepath.Join(dir, "app")))
	if err != nil {
		t.Fatal(err)
	}
	wantSet(t, moduleSet(r), "example.com/a@v1.0.0 zip", "example.com/fork@v1.5.0 zip", "example.com/e@v1.0.0 zip",
		"example.com/bad@v1.0.0 zip", "example.com/f@v1.0.0 zip", "example.com/g/v2@v2.1.0 zip")
}

func TestMissingModuleNamesChain(t *testing.T) {
	f := newFakeMirror(t, map[string]string{
		"example.com/a@v1.0.0": "module example.com/a\ngo 1.16\nrequire example.com/b v1.0.0\n",
		"example.com/b@v1.0.0": "module example.com/b\ngo 1.16\nrequire example.com/gone v0.1.0\n",
	})
	dir := writeTree(t, map[string]string{"go.mod": "module example.com/main\ngo 1.16\nrequire example.com/a v1.0.0\n"})
	_, err := runResolve(t, f, nil, false, mustInput(t, dir))
	var ce *ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a ChainError", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err does not wrap fs.ErrNotExist: %v", err)
	}
	want := "example.com/gone@v0.1.0: fake: example.com/gone@v0.1.0.mod: file does not exist (required by example.com/main → example.com/a@v1.0.0 → example.com/b@v1.0.0)"
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %q, want one line containing %q", err, want)
	}
}

func TestGoSumMismatch(t *testing.T) {
	mods := map[string]string{
		"example.com/a@v1.0.0": "module example.com/a\ngo 1.16\n",
	}
	goodMod, err := hashGoMod([]byte(mods["example.com/a@v1.0.0"]))
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	for _, tc := range []struct {
		name, gosum, file string
	}{
		{"mod", "example.com/a v1.0.0/go.mod " + wrong + "\n", "go.mod"},
		{"zip", "example.com/a v1.0.0 " + wrong + "\nexample.com/a v1.0.0/go.mod " + goodMod + "\n", "zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeMirror(t, mods)
			dir := writeTree(t, map[string]string{
				"go.mod": "module example.com/main\ngo 1.16\nrequire example.com/a v1.0.0\n",
				"go.sum": tc.gosum,
			})
			r, err := runResolve(t, f, nil, false, mustInput(t, dir))
			var ce *ChecksumError
			if !errors.As(err, &ce) || r != nil {
				t.Fatalf("err = %v, want a ChecksumError", err)
			}
			if ce.File != tc.file || ce.Want != wrong || !strings.HasPrefix(ce.Got, "h1:") || ce.Mirror != "fake" ||
				ce.Source != filepath.Join(dir, "go.sum")+":1" {
				t.Errorf("error = %+v", ce)
			}
			if !strings.Contains(err.Error(), "example.com/a@v1.0.0") || !strings.Contains(err.Error(), wrong) {
				t.Errorf("message %q does not name the module and hashes", err)
			}
			kind := map[string]string{"go.mod": "mod", "zip": "zip"}[tc.file]
			if got := f.fetched(kind + " forget"); !slices.Equal(got, []string{"example.com/a@v1.0.0"}) {
				t.Errorf("forgotten %s files: %q", kind, got)
			}
		})
	}
}

func TestGoSumMatchAndSumDB(t *testing.T) {
	mods := map[string]string{
		"example.com/a@v1.0.0": "module example.com/a\ngo 1.16\n",
	}
	f := newFakeMirror(t, mods)
	// Compute the real hashes the way the go command writes them.
	hm, _ := hashGoMod([]byte(mods["example.com/a@v1.0.0"]))
	fz, err := f.Fetch(context.Background(), "example.com/a", "v1.0.0", "zip")
	if err != nil {
		t.Fatal(err)
	}
	hz, err := hashZip(module.Version{Path: "example.com/a", Version: "v1.0.0"}, fz.File)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{
		"go.mod": "module example.com/main\ngo 1.16\nrequire example.com/a v1.0.0\n",
		"go.sum": "example.com/a v1.0.0 " + hz + "\nexample.com/a v1.0.0/go.mod " + hm + "\n",
	})
	db := &fakeSumDB{}
	r, err := runResolve(t, f, db, false, mustInput(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	m := r.Modules[0]
	if !m.GoSum || m.ModHash != hm || m.ZipHash != hz || r.Stats.GoSumChecks != 2 || r.Stats.SumDBChecks != 2 || db.calls != 2 {
		t.Errorf("module %+v stats %+v calls %d", m, r.Stats, db.calls)
	}

	db = &fakeSumDB{bad: map[string]bool{"example.com/a@v1.0.0": true}}
	_, err = runResolve(t, f, db, false, mustInput(t, dir))
	var se *VerifyError
	if !errors.As(err, &se) || se.File != "zip" || se.Got != hz || se.Mirror != "fake" {
		t.Fatalf("err = %v, want a VerifyError for the zip", err)
	}
}

func TestWorkspaceAndModuleInput(t *testing.T) {
	f := newFakeMirror(t, map[string]string{
		"example.com/a@v1.0.0":    "module example.com/a\ngo 1.21\n",
		"example.com/b@v1.0.0":    "module example.com/b\ngo 1.21\n",
		"example.com/b@v1.1.0":    "module example.com/b\ngo 1.21\n",
		"example.com/tool@v0.3.0": "module example.com/tool\ngo 1.21\nrequire example.com/b v1.1.0\n",
	})
	dir := writeTree(t, map[string]string{
		"go.work":    "go 1.21\nuse (\n\t./one\n\t./two\n)\nreplace example.com/a v1.0.0 => example.com/a v1.0.0\n",
		"one/go.mod": "module example.com/one\ngo 1.21\nrequire (\n\texample.com/two v0.0.0\n\texample.com/a v1.0.0\n)\n",
		"two/go.mod": "module example.com/two\ngo 1.21\nrequire example.com/b v1.0.0\n",
	})
	r, err := runResolve(t, f, nil, false, mustInput(t, filepath.Join(dir, "go.work")), mustInput(t, "example.com/tool@v0.3.0"))
	if err != nil {
		t.Fatal(err)
	}
	wantSet(t, moduleSet(r), "example.com/a@v1.0.0 zip", "example.com/b@v1.0.0 zip", "example.com/b@v1.1.0 zip", "example.com/tool@v0.3.0 zip")
	// Recorded as what they are, sorted, with no path of this machine.
	work, err := os.ReadFile(filepath.Join(dir, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	workSum := sha256.Sum256(work)
	if want := []string{"example.com/one,example.com/two go.work sha256:" + hex.EncodeToString(workSum[:]), "example.com/tool@v0.3.0"}; !slices.Equal(r.Inputs, want) {
		t.Errorf("inputs = %q, want %q", r.Inputs, want)
	}
	// Each go.mod and .info is fetched once even when two inputs need it
	// (zips are also prefetched during the walk; the real mirrors' cache
	// serves the second fetch).
	for k, n := range f.calls {
		if n != 1 && !strings.HasSuffix(k, " zip") {
			t.Errorf("%s fetched %d times", k, n)
		}
	}
}

func TestAllZips(t *testing.T) {
	f := newFakeMirror(t, map[string]string{
		"example.com/a@v1.0.0": "module example.com/a\ngo 1.16\nrequire example.com/c v1.1.0\n",
		"example.com/c@v1.1.0": "module example.com/c\ngo 1.16\n",
		"example.com/c@v1.2.0": "module example.com/c\ngo 1.16\n",
	})
	dir := writeTree(t, map[string]string{
		"go.mod": "module example.com/main\ngo 1.16\nrequire (\n\texample.com/a v1.0.0\n\texample.com/c v1.2.0\n)\n",
	})
	r, err := runResolve(t, f, nil, true, mustInput(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	wantSet(t, moduleSet(r), "example.com/a@v1.0.0 zip", "example.com/c@v1.1.0 zip", "example.com/c@v1.2.0 zip")
}

func TestResolveCanceled(t *testing.T) {
	f := newFakeMirror(t, map[string]string{"example.com/a@v1.0.0": "module example.com/a\n"})
	dir := writeTree(t, map[string]string{"go.mod": "module example.com/main\nrequire example.com/a v1.0.0\n"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := resolve(ctx, Config{Inputs: []Input{mustInput(t, dir)}}, f, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestGoAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"1.17", true}, {"1.16", false}, {"1.21.0", true}, {"1.21rc1", true}, {"1.9", false}, {"2.0", true}, {"", false}, {"x", false}} {
		if got := goAtLeast(tc.v, 1, 17); got != tc.want {
			t.Errorf("goAtLeast(%q) = %v", tc.v, got)
		}
	}
}

func TestChainErrorMessage(t *testing.T) {
	m := module.Version{Path: "example.com/x", Version: "v1.0.0"}
	inner := &module.ModuleError{Path: "example.com/y", Version: "v2.0.0", Err: fmt.Errorf("reading https://mirror.test/example.com/y/@v/v2.0.0.mod: 404 Not Found\nserver says: gone: %w", fs.ErrNotExist)}
	err := error(&ChainError{
		Chain:  []module.Version{{Path: "example.com/main"}, {Path: "example.com/a", Version: "v1.2.0"}, m},
		Source: "example.com/y@v2.0.0",
		Err:    inner,
	})
	want := "example.com/x@v1.0.0 => example.com/y@v2.0.0: reading https://mirror.test/example.com/y/@v/v2.0.0.mod: 404 Not Found … (required by example.com/main → example.com/a@v1.2.0)"
	if err.Error() != want {
		t.Errorf("error:\n got  %s\n want %s", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("ChainError does not wrap fs.ErrNotExist")
	}
}

func TestMissingModuleShortestChain(t *testing.T) {
	f := newFakeMirror(t, map[string]string{
		"example.com/a@v1.0.0": "module example.com/a\ngo 1.16\nrequire example.com/b v1.0.0\n",
		"example.com/b@v1.0.0": "module example.com/b\ngo 1.16\nrequire example.com/gone v0.1.0\n",
		"example.com/c@v1.0.0": "module example.com/c\ngo 1.16\nrequire example.com/gone v0.1.0\n",
	})
	dir := writeTree(t, map[string]string{"go.mod": "module example.com/main\ngo 1.16\nrequire (\n\texample.com/a v1.0.0\n\texample.com/c v1.0.0\n)\n"})
	for range 5 {
		_, err := runResolve(t, f, nil, false, mustInput(t, dir))
		want := "(required by example.com/main → example.com/c@v1.0.0)"
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Fatalf("err = %v, want one ending in %q", err, want)
		}
	}
}

func TestLaneBoost(t *testing.T) {
	ln := newLane(context.Background(), 1, 3)
	defer ln.stop()
	started := make(chan int, 3)
	release := make(chan struct{})
	for i := range 3 {
		ln.Go(func(ctx context.Context) error {
			started <- i
			<-release
			return nil
		})
	}
	<-started
	select {
	case <-started:
		t.Fatal("a second task ran before boost")
	default:
	}
	ln.boost()
	<-started
	<-started // both others run at once now, while the first still holds its slot
	close(release)
	if err := ln.wait(); err != nil {
		t.Fatal(err)
	}
	ln2 := newLane(context.Background(), 2, 0)
	ln2.Go(func(context.Context) error { return errors.New("first") })
	if err := ln2.wait(); err == nil || err.Error() != "first" {
		t.Errorf("wait = %v, want the task's error", err)
	}
}
