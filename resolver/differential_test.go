package resolver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/rogpeppe/go-internal/txtar"
	"golang.org/x/mod/module"
)

// The differential harness: for a project, run the real go command online
// against the kit's logging upstream for the everyday commands, record every
// .info, .mod and .zip it was served, resolve the project in-process as
// create does, and check that the bundle would hold every one of them.
// A file the go command read and the bundle lacks is a build that stops
// inside the air gap.

// diffCommand is one go command of the harness, run in Dir (relative to the
// project; "" for its root).
type diffCommand struct {
	Dir  string
	Args []string
	Env  []string
}

func (c diffCommand) String() string {
	s := "go " + strings.Join(c.Args, " ")
	if c.Dir != "" {
		s = "(in " + c.Dir + ") " + s
	}
	return s
}

// everyday returns the commands of the harness for a project with the
// given main module directories (one for a go.mod project), in a
// workspace or not. -mod=mod first, so go.sum becomes complete, as a
// developer's is before the trip.
func everyday(mains, tidy []string, workspace bool) []diffCommand {
	var cmds []diffCommand
	for _, d := range tidy {
		// go mod tidy in a member module never uses go.work (modload
		// InitWorkfile): GOWORK=off is what tidy there sees.
		cmds = append(cmds, diffCommand{Dir: d, Args: []string{"mod", "tidy"}, Env: []string{"GOWORK=off"}})
	}
	if workspace {
		cmds = append(cmds, diffCommand{Args: []string{"work", "sync"}})
	} else {
		cmds = append(cmds, diffCommand{Args: []string{"list", "-mod=mod", "-m", "all"}})
	}
	for _, d := range mains {
		cmds = append(cmds,
			diffCommand{Dir: d, Args: []string{"build", "./..."}},
			diffCommand{Dir: d, Args: []string{"test", "-run", "xxx", "./..."}},
			diffCommand{Dir: d, Args: []string{"list", "-mod=readonly", "-m", "all"}},
		)
	}
	cmds = append(cmds,
		diffCommand{Args: []string{"mod", "download"}},
		diffCommand{Args: []string{"mod", "graph"}},
		diffCommand{Args: []string{"mod", "verify"}},
	)
	return cmds
}

// bundleFiles returns the proxy files a resolution bundles, as
// "path/@v/version.kind" with escaped path and version.
func bundleFiles(t testing.TB, res *Result) map[string]bool {
	have := map[string]bool{}
	for _, m := range res.Modules {
		kinds := []string{"info", "mod"}
		if m.Zip != nil {
			kinds = append(kinds, "zip")
		}
		for _, k := range kinds {
			have[proxyFile(t, module.Version{Path: m.Path, Version: m.Version}, k)] = true
		}
	}
	return have
}

func proxyFile(t testing.TB, m module.Version, kind string) string {
	ep, err := module.EscapePath(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := module.EscapeVersion(m.Version)
	if err != nil {
		t.Fatal(err)
	}
	return ep + "/@v/" + ev + "." + kind
}

// served returns the .info, .mod and .zip files the upstream answered with
// 200, as proxyFile names them.
func served(reqs []fakeproxy.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Status != 200 || !strings.Contains(r.Path, "/@v/") {
			continue
		}
		switch filepath.Ext(r.Path) {
		case ".info", ".mod", ".zip":
			out = append(out, strings.TrimPrefix(r.Path, "/"))
		}
	}
	return out
}

// missingFiles returns, for each command, the files it was served that have
// lacks: "go build ./...: example.com/a/@v/v1.0.0.zip".
func missingFiles(read map[string][]string, order []string, have map[string]bool) []string {
	var out []string
	for _, c := range order {
		seen := map[string]bool{}
		for _, f := range read[c] {
			if !have[f] && !seen[f] {
				seen[f] = true
				out = append(out, c+": "+f)
			}
		}
	}
	return out
}

// diffRun runs the commands against up in dir (a fresh module cache per
// project, shared by its commands) and returns what each was served.
func diffRunIn(t testing.TB, dir, cache string, up *fakeproxy.Server, cmds []diffCommand) (map[string][]string, []string) {
	work := filepath.Join(dir, cache)
	read := map[string][]string{}
	var order []string
	for _, c := range cmds {
		before := len(up.Requests())
		cmd := exec.Command("go", c.Args...)
		cmd.Dir = filepath.Join(dir, c.Dir)
		cmd.Env = append(testkit.SafeGoEnv(work, hostGoCache(t)), "PATH="+os.Getenv("PATH"), "HOME="+work, "GOPROXY="+up.URL)
		cmd.Env = append(cmd.Env, c.Env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
		name := c.String()
		order = append(order, name)
		read[name] = served(up.Requests()[before:])
	}
	return read, order
}

// diffResolve resolves the project in dir through up, as create does.
func diffResolve(t testing.TB, dir, proxy string) *Result {
	m, err := NewMirrors(MirrorConfig{Proxy: proxy, CacheDir: filepath.Join(dir, ".diff", "gobundle-cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in, err := ParseInput(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(context.Background(), Config{Inputs: []Input{in}, Mirrors: m, Jobs: 4})
	if err != nil {
		t.Fatalf("resolve %s: %v", dir, err)
	}
	return res
}

// diffProject is one project of the harness: its main module directories
// (relative; "" for the root), those where go mod tidy works outside the
// workspace, and whether it is a workspace.
type diffProject struct {
	arch      *txtar.Archive
	set       *fixtures.Set // its module versions, for go.work.sum
	mains     []string
	tidy      []string
	workspace bool
}

// diffCheck runs the harness on one project written to a fresh directory:
// made tidy first (in a module cache of its own, so the recorded commands
// start cold), as a developer's project is before the trip.
func diffCheck(t testing.TB, up *fakeproxy.Server, p diffProject) {
	dir := filepath.Join(tempDir(t), "proj")
	if err := fixtures.WriteArchive(p.arch, dir); err != nil {
		t.Fatal(err)
	}
	// Twice: go work sync raises the members' requirements, which tidy
	// may change again.
	var prep []diffCommand
	for range 2 {
		for _, d := range p.tidy {
			prep = append(prep, diffCommand{Dir: d, Args: []string{"mod", "tidy"}, Env: []string{"GOWORK=off"}})
		}
		if p.workspace {
			prep = append(prep, diffCommand{Args: []string{"work", "sync"}})
		}
	}
	if p.workspace {
		if err := p.set.WriteGoSum(dir); err != nil {
			t.Fatal(err)
		}
	}
	diffRunIn(t, dir, ".prep", up, prep)
	// The bundle is made from the project as it is before the trip.
	res := diffResolve(t, dir, up.URL)
	read, order := diffRunIn(t, dir, ".diff", up, everyday(p.mains, p.tidy, p.workspace))
	if miss := missingFiles(read, order, bundleFiles(t, res)); len(miss) > 0 {
		t.Errorf("files the go command read that the bundle lacks:\n\t%s", strings.Join(miss, "\n\t"))
	}
}

var (
	goCacheOnce sync.Once
	goCache     string
)

// hostGoCache returns the host's build cache (build outputs only): a cold
// one per project would compile the standard library every time.
func hostGoCache(t testing.TB) string {
	goCacheOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOCACHE").Output()
		if err == nil {
			goCache = strings.TrimSpace(string(out))
		}
	})
	if goCache == "" {
		t.Fatal("go env GOCACHE: no build cache")
	}
	return goCache
}

func tempDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "gobundle-diff-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestDifferentialFixtures runs the harness over the kit's fixture projects.
func TestDifferentialFixtures(t *testing.T) {
	all, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range []struct {
		name      string
		mains     []string
		workspace bool
		tidy      []string
	}{{"hello", []string{""}, false, []string{""}}, {"work", []string{"app", "lib"}, true, []string{"lib"}}} {
		t.Run(pr.name, func(t *testing.T) {
			t.Parallel()
			up := fakeproxy.Start(all, 1)
			defer up.Close()
			a, err := fixtures.Project(pr.name)
			if err != nil {
				t.Fatal(err)
			}
			diffCheck(t, up, diffProject{arch: a, set: all, mains: pr.mains, tidy: pr.tidy, workspace: pr.workspace})
		})
	}
}

// TestDifferentialGenerated runs the harness over seeded generated graphs
// (GOBUNDLE_DIFF_GRAPHS of them, default 200; make differential runs more).
func TestDifferentialGenerated(t *testing.T) {
	n := 200
	if s := os.Getenv("GOBUNDLE_DIFF_GRAPHS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("GOBUNDLE_DIFF_GRAPHS=%q: %v", s, err)
		}
	}
	if testing.Short() {
		n = 10
	}
	seeds := make(chan uint64)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				g := genGraph(seed)
				up := fakeproxy.Start(g.set, 1)
				t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
					diffCheck(t, up, diffProject{arch: g.project, set: g.set, mains: g.mains, tidy: g.mains, workspace: g.workspace})
				})
				up.Close()
			}
		}()
	}
	for i := range n {
		seeds <- uint64(i + 1)
	}
	close(seeds)
	wg.Wait()
}

// TestDifferentialCatchesMissing proves the harness fails, naming the
// command and the file, when the bundle lacks a file the go command read.
func TestDifferentialCatchesMissing(t *testing.T) {
	all, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(all, 1)
	defer up.Close()
	a, err := fixtures.Project("hello")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tempDir(t), "proj")
	if err := fixtures.WriteArchive(a, dir); err != nil {
		t.Fatal(err)
	}
	read, order := diffRunIn(t, dir, ".diff", up, everyday([]string{""}, []string{""}, false))
	have := bundleFiles(t, diffResolve(t, dir, up.URL))
	if miss := missingFiles(read, order, have); len(miss) > 0 {
		t.Fatalf("unexpected gaps: %v", miss)
	}
	removed := "example.com/c/@v/v1.0.0.zip"
	if !have[removed] {
		t.Fatalf("%s not bundled", removed)
	}
	delete(have, removed)
	miss := missingFiles(read, order, have)
	if len(miss) == 0 {
		t.Fatal("harness found nothing missing after a file was removed")
	}
	for _, m := range miss {
		if !strings.HasPrefix(m, "go ") || !strings.HasSuffix(m, ": "+removed) {
			t.Errorf("report %q does not name a command and %s", m, removed)
		}
	}
	t.Logf("reported: %v", miss)
}

// genResult is one generated project with the module versions it uses.
type genResult struct {
	set       *fixtures.Set
	project   *txtar.Archive
	mains     []string
	workspace bool
}

// genGraph generates, from seed, a small module graph and a project over
// it with the corners the go command's rules turn on: go 1.16 (unpruned)
// and go 1.21 (pruned) modules, a workspace with mixed go lines, replaces
// in go.mod and go.work, excludes, a cycle through an older version of the
// main module, a tool directive, a retraction, a +incompatible version and
// a module whose path is a prefix of another's.
func genGraph(seed uint64) genResult {
	r := rand.New(rand.NewPCG(seed, 12))
	gn := &graphGen{r: r, pre: fmt.Sprintf("gen%d.example", seed), set: fixtures.NewSet()}
	gn.nmods = 4 + r.IntN(5)
	gn.nvers = 1 + r.IntN(3)
	gn.mainPath = gn.pre + "/main"
	cycle := r.IntN(3) == 0
	gn.modules(cycle)
	gn.corners(cycle)
	g := genResult{set: gn.set}
	if r.IntN(3) == 0 {
		gn.workspace(&g)
		return g
	}
	g.mains = []string{""}
	gv := "1.24"
	if r.IntN(3) == 0 {
		gv = "1.16"
	}
	mod, code := gn.mainMod(gn.mainPath, gv, 0)
	g.project = &txtar.Archive{Files: []txtar.File{{Name: "go.mod", Data: []byte(mod)}, {Name: "x.go", Data: []byte(code)}}}
	return g
}

// graphGen is the state of [genGraph]: its random source (whose draws, in
// order, make the graph) and the module set made so far.
type graphGen struct {
	r            *rand.Rand
	pre          string
	nmods, nvers int
	mainPath     string
	set          *fixtures.Set
}

func (gn *graphGen) path(i int) string { return fmt.Sprintf("%s/m%d", gn.pre, i) }
func (gn *graphGen) ver(k int) string  { return fmt.Sprintf("v1.%d.0", k) }

func (gn *graphGen) goLine() string {
	if gn.r.IntN(3) == 0 {
		return "1.16"
	}
	return "1.21"
}

func (gn *graphGen) add(p, v, mod string, files ...fixtures.File) {
	gn.set.Add(fixtures.NewModule(p, v, []byte(mod), nil, time0, func() []fixtures.File {
		return append([]fixtures.File{{Name: "go.mod", Data: []byte(mod)}}, files...)
	}))
}

func (gn *graphGen) pkg(p string) fixtures.File {
	return fixtures.File{Name: "p.go", Data: []byte("package " + pkgName(p) + "\n")}
}

// modules adds nvers versions of nmods modules with random requirements
// on later ones, random go lines and retractions; with cycle, the last
// one's last version requires an older version of the main module.
func (gn *graphGen) modules(cycle bool) {
	r := gn.r
	for i := range gn.nmods {
		for k := range gn.nvers {
			var b strings.Builder
			fmt.Fprintf(&b, "module %s\n\ngo %s\n", gn.path(i), gn.goLine())
			var reqs []string
			for j := i + 1; j < gn.nmods; j++ {
				if r.IntN(3) == 0 {
					reqs = append(reqs, gn.path(j)+" "+gn.ver(r.IntN(gn.nvers)))
				}
			}
			if cycle && i == gn.nmods-1 && k == gn.nvers-1 {
				reqs = append(reqs, gn.mainPath+" v1.0.0")
			}
			if len(reqs) > 0 {
				fmt.Fprintf(&b, "\nrequire (\n\t%s\n)\n", strings.Join(reqs, "\n\t"))
			}
			if k == gn.nvers-1 && gn.nvers > 1 && r.IntN(4) == 0 {
				fmt.Fprintf(&b, "\nretract %s\n", gn.ver(0))
			}
			gn.add(gn.path(i), gn.ver(k), b.String(), gn.pkg(gn.path(i)))
		}
	}
}

// corners adds the fixed corner modules: the main module's older release
// (with cycle), a prefix-path pair, a +incompatible version and a tool.
func (gn *graphGen) corners(cycle bool) {
	pre := gn.pre
	if cycle {
		// The main module's own older release, required back by the
		// last module: its requirement on "old" counts in MVS.
		gn.add(gn.mainPath, "v1.0.0", fmt.Sprintf("module %s\n\ngo 1.16\n\nrequire %s/old v1.0.0\n", gn.mainPath, pre))
		gn.add(pre+"/old", "v1.0.0", fmt.Sprintf("module %s/old\n\ngo 1.21\n", pre), gn.pkg(pre+"/old"))
	}
	// A prefix-path pair: pre/px and pre/px/sub, both modules.
	gn.add(pre+"/px", "v1.0.0", fmt.Sprintf("module %s/px\n\ngo 1.21\n", pre), gn.pkg(pre+"/px"))
	gn.add(pre+"/px/sub", "v1.0.0", fmt.Sprintf("module %s/px/sub\n\ngo 1.21\n", pre), gn.pkg(pre+"/px/sub"))
	// +incompatible: a v2 without go.mod's /v2 path.
	gn.set.Add(fixtures.NewModule(pre+"/inc", "v2.0.0+incompatible", []byte("module "+pre+"/inc\n"), nil, time0,
		func() []fixtures.File { return []fixtures.File{gn.pkg(pre + "/inc")} }))
	// A tool module.
	gn.add(pre+"/tool", "v1.0.0", fmt.Sprintf("module %s/tool\n\ngo 1.21\n", pre),
		fixtures.File{Name: "cmd/t/main.go", Data: []byte("package main\n\nfunc main() {}\n")})
}

// mainMod returns the go.mod and a source file of a main module named
// name at go goVer, requiring every module from first on at random steps.
func (gn *graphGen) mainMod(name, goVer string, first int) (string, string) {
	r, pre := gn.r, gn.pre
	var b, code strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n\nrequire (\n", name, goVer)
	fmt.Fprintf(&code, "package %s\n\nimport (\n", pkgName(name))
	for i := first; i < gn.nmods; i += 1 + r.IntN(2) {
		fmt.Fprintf(&b, "\t%s %s\n", gn.path(i), gn.ver(r.IntN(gn.nvers)))
		fmt.Fprintf(&code, "\t_ %q\n", gn.path(i))
	}
	fmt.Fprintf(&b, "\t%s/px/sub v1.0.0\n\t%s/inc v2.0.0+incompatible\n", pre, pre)
	fmt.Fprintf(&code, "\t_ %q\n\t_ %q\n", pre+"/px/sub", pre+"/inc")
	if goVer == "1.24" {
		fmt.Fprintf(&b, "\t%s/tool v1.0.0\n", pre)
	}
	b.WriteString(")\n")
	if goVer == "1.24" {
		fmt.Fprintf(&b, "\ntool %s/tool/cmd/t\n", pre)
	}
	if gn.nvers > 1 && r.IntN(3) == 0 {
		fmt.Fprintf(&b, "\nexclude %s %s\n", gn.path(gn.nmods-1), gn.ver(0))
	}
	if gn.nvers > 1 && r.IntN(3) == 0 {
		j := r.IntN(gn.nmods)
		fmt.Fprintf(&b, "\nreplace %s => %s %s\n", gn.path(j), gn.path(j), gn.ver(gn.nvers-1))
	}
	code.WriteString(")\n")
	return b.String(), code.String()
}

// workspace makes g's project a workspace of two modules with mixed go
// lines.
func (gn *graphGen) workspace(g *genResult) {
	r := gn.r
	g.workspace, g.mains = true, []string{"a", "b"}
	var work strings.Builder
	work.WriteString("go 1.24\n\nuse (\n\t./a\n\t./b\n)\n")
	if gn.nvers > 1 && r.IntN(2) == 0 {
		j := r.IntN(gn.nmods)
		fmt.Fprintf(&work, "\nreplace %s => %s %s\n", gn.path(j), gn.path(j), gn.ver(0))
	}
	g.project = &txtar.Archive{Files: []txtar.File{{Name: "go.work", Data: []byte(work.String())}}}
	for i, d := range g.mains {
		gv := "1.24"
		if i == 1 && r.IntN(2) == 0 {
			gv = "1.16"
		}
		mod, code := gn.mainMod(gn.pre+"/"+d, gv, i)
		g.project.Files = append(g.project.Files,
			txtar.File{Name: d + "/go.mod", Data: []byte(mod)}, txtar.File{Name: d + "/x.go", Data: []byte(code)})
	}
}

func pkgName(p string) string {
	b := []byte(p[strings.LastIndexByte(p, '/')+1:])
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' && i > 0) {
			b[i] = 'x'
		}
	}
	if string(b) == "main" {
		return "mainx"
	}
	return string(b)
}

var time0 time.Time
