package resolver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// source is where the go.mod of a module version in the graph comes from:
// a module version fetched from the mirrors (the node itself or its
// replacement), or a local directory (a local-path replacement or a main
// module), which is read from disk and never bundled.
type source struct {
	Mod module.Version
	Dir string // absolute; set for local sources
}

func (s source) String() string {
	if s.Dir != "" {
		return s.Dir
	}
	return s.Mod.Path + "@" + s.Mod.Version
}

// project is one input made ready for the walk: its main modules, with
// their requirements, replacements and exclusions.
type project struct {
	input Input
	mains []mainModule
	// replace holds the go.mod's replacements, or go.work's; modReplace,
	// in a workspace, those of each module it uses.
	replace    replaceMap
	modReplace []replaceMap
	exclude    map[module.Version]bool
	// goVersion is the go line of the main module (or of go.work), which
	// decides how the go command prunes the graph.
	goVersion string
	workspace bool
	// outside marks a workspace module resolved on its own, for go mod
	// tidy there (which never uses go.work); its failures are warnings.
	outside  bool
	tools    []string // package paths of tool directives
	sumFiles []string // go.sum and go.work.sum files
}

// mainModule is a module whose requirements are roots of the graph.
type mainModule struct {
	Path    string
	Dir     string // "" for a module@version input
	Go      string // its go directive
	Require []module.Version
}

// loadProject reads a local input: its go.mod or go.work and every go.mod
// it uses. A module@version input is completed by the walk, which fetches its
// go.mod.
func loadProject(ctx context.Context, in Input) (*project, error) {
	p := &project{input: in, replace: replaceMap{}, exclude: map[module.Version]bool{}}
	switch in.Kind {
	case InputModule:
		return p, nil
	case InputGoMod:
		mf, err := readMainModFile(ctx, in.File)
		if err != nil {
			return nil, err
		}
		dir := filepath.Dir(in.File)
		p.addMain(mf, dir)
		if mf.Go != nil {
			p.goVersion = mf.Go.Version
		}
		if err := p.replace.add(mf.Replace, dir, in.File); err != nil {
			return nil, err
		}
		p.sumFiles = append(p.sumFiles, filepath.Join(dir, "go.sum"))
	case InputWork:
		data, err := os.ReadFile(in.File)
		if err != nil {
			return nil, err
		}
		wf, err := modfile.ParseWork(in.File, data, strictVersion)
		if err != nil {
			return nil, err
		}
		wdir := filepath.Dir(in.File)
		// go.work replacements win over those of the modules it uses.
		if err := p.replace.add(wf.Replace, wdir, in.File); err != nil {
			return nil, err
		}
		p.workspace = true
		if wf.Go != nil {
			p.goVersion = wf.Go.Version
		}
		var mfs []*modfile.File
		var dirs []string
		for _, u := range wf.Use {
			dir := filepath.FromSlash(u.Path)
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(wdir, dir)
			}
			mf, err := readMainModFile(ctx, filepath.Join(dir, "go.mod"))
			if err != nil {
				return nil, fmt.Errorf("%s: use %s: %w", in.File, u.Path, err)
			}
			p.addMain(mf, dir)
			mfs, dirs = append(mfs, mf), append(dirs, dir)
			p.sumFiles = append(p.sumFiles, filepath.Join(dir, "go.sum"))
		}
		for i, mf := range mfs {
			rm := replaceMap{}
			if err := rm.add(mf.Replace, dirs[i], filepath.Join(dirs[i], "go.mod")); err != nil {
				return nil, err
			}
			p.modReplace = append(p.modReplace, rm)
		}
		p.sumFiles = append(p.sumFiles, in.File+".sum")
	default:
		return nil, &InputError{Arg: in.Arg, Err: errors.New("unknown input kind")}
	}
	return p, nil
}

func readMainModFile(ctx context.Context, file string) (*modfile.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	mf, err := modfile.Parse(file, data, strictVersion)
	if err != nil {
		return nil, err
	}
	if mf.Module == nil {
		return nil, fmt.Errorf("%s: no module directive", file)
	}
	return mf, nil
}

// addMain records a main module read from disk with its exclusions, tools
// and requirements.
func (p *project) addMain(mf *modfile.File, dir string) {
	mm := mainModule{Path: mf.Module.Mod.Path, Dir: dir}
	if mf.Go != nil {
		mm.Go = mf.Go.Version
	}
	for _, r := range mf.Require {
		mm.Require = append(mm.Require, r.Mod)
	}
	for _, x := range mf.Exclude {
		p.exclude[x.Mod] = true
	}
	for _, t := range mf.Tool {
		p.tools = append(p.tools, t.Path)
	}
	p.mains = append(p.mains, mm)
}

// replaceMap holds the replace directives of one go.mod or go.work file:
// Old (Version "" for all versions) → New.
type replaceMap map[module.Version]replacement

type replacement struct {
	src  source
	from module.Version // the directive's Old
	file string         // the file (and line) that says it
}

// add records replace directives; relative directory targets are taken
// relative to dir.
func (rm replaceMap) add(rs []*modfile.Replace, dir, file string) error {
	for _, r := range rs {
		var s source
		if modfile.IsDirectoryPath(r.New.Path) {
			d := filepath.FromSlash(r.New.Path)
			if !filepath.IsAbs(d) {
				d = filepath.Join(dir, d)
			}
			s.Dir = filepath.Clean(d)
		} else {
			if err := module.Check(r.New.Path, r.New.Version); err != nil {
				return fmt.Errorf("%s:%d: replace %s: %w", file, r.Syntax.Start.Line, r.Old.Path, err)
			}
			s.Mod = r.New
		}
		rm[r.Old] = replacement{src: s, from: r.Old, file: fmt.Sprintf("%s:%d", file, r.Syntax.Start.Line)}
	}
	return nil
}

// lookup returns m's replacement in one file: a version-specific directive
// wins over one for all versions (modload replacement).
func (rm replaceMap) lookup(m module.Version) (replacement, bool) {
	if r, ok := rm[m]; ok {
		return r, true
	}
	r, ok := rm[module.Version{Path: m.Path}]
	return r, ok
}

// replacementOf returns m's replacement as the go command finds it
// (modload replacementFrom): go.work's map first, whole (so its
// all-versions directive beats a module's version-specific one), then the
// workspace modules', where two modules replacing m differently is an
// error.
func (p *project) replacementOf(m module.Version) (source, error) {
	if m.Version == "" && p.isMain(m.Path) {
		return source{Mod: m}, nil
	}
	if r, ok := p.replace.lookup(m); ok {
		return r.src, nil
	}
	var found *replacement
	for _, rm := range p.modReplace {
		r, ok := rm.lookup(m)
		if !ok {
			continue
		}
		if found != nil && found.from != r.from && found.src != r.src {
			return found.src, fmt.Errorf("conflicting replacements found for %s in workspace modules defined by %s and %s",
				modString(m), found.file, r.file)
		}
		found = &r
	}
	if found != nil {
		return found.src, nil
	}
	return source{Mod: m}, nil
}

// resolve returns where the go.mod (and files) of m come from after the
// replacements ([project.replacementOf]; a conflict is reported by the walk).
func (p *project) resolve(m module.Version) source {
	s, _ := p.replacementOf(m)
	return s
}

// isMain reports whether path is one of the project's main modules.
func (p *project) isMain(path string) bool {
	for _, mm := range p.mains {
		if mm.Path == path {
			return true
		}
	}
	return false
}

// goAtLeast compares a go directive's version ("1.21", "1.21.0",
// "1.21rc1") with major.minor.
func goAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err := strconv.Atoi(parts[0])
	if err != nil {
		return false
	}
	mn := parts[1]
	if i := strings.IndexFunc(mn, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		mn = mn[:i]
	}
	min, err := strconv.Atoi(mn)
	if err != nil {
		return false
	}
	return maj > major || maj == major && min >= minor
}

// ChainError reports a module version of the graph that could not be loaded,
// with the chain of requirements that leads to it from a main module.
type ChainError struct {
	// Chain runs from a main module (Version "") to the failing module
	// version, as required (before replacement).
	Chain []module.Version
	// Source is what was fetched or read for the last element, when it
	// differs from it (a replacement).
	Source string
	Err    error
}

func (e *ChainError) Error() string {
	var b strings.Builder
	last := e.Chain[len(e.Chain)-1]
	b.WriteString(modString(last))
	if e.Source != "" {
		b.WriteString(" => " + e.Source)
	}
	b.WriteString(": ")
	msg := oneLine(e.Err.Error())
	// The fetch layer's errors already name the module version.
	for _, name := range []string{modString(last), e.Source} {
		if name != "" {
			msg = strings.TrimPrefix(msg, name+": ")
		}
	}
	b.WriteString(msg)
	// The chain of requirers, without the module version itself: an
	// input asked for as module@version has none.
	if len(e.Chain) > 1 {
		b.WriteString(" (required by ")
		for i, m := range e.Chain[:len(e.Chain)-1] {
			if i > 0 {
				b.WriteString(" → ")
			}
			b.WriteString(modString(m))
		}
		b.WriteString(")")
	}
	return b.String()
}

func (e *ChainError) Unwrap() error { return e.Err }

func modString(m module.Version) string {
	if m.Version == "" {
		return m.Path
	}
	return m.Path + "@" + m.Version
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// graph is the full, unpruned requirement graph of one project. Main modules
// are nodes with Version "".
type graph struct {
	mu     sync.Mutex
	reqs   map[module.Version][]module.Version // after exclusions
	goVer  map[module.Version]string           // go directive of the node's go.mod
	parent map[module.Version]module.Version   // first requirer; main modules map to themselves
	srcs   map[module.Version]source
	mains  []module.Version // in input order
	isMain map[string]bool  // paths of the main modules
	edges  int
	failed []failure
}

// walk loads the go.mod of every module version reachable from the main
// modules, jobs at a time.
func walk(ctx context.Context, p *project, l *loader, jobs int, progress func(done, total int64, item string)) (*graph, error) {
	g := &graph{
		reqs:   map[module.Version][]module.Version{},
		goVer:  map[module.Version]string{},
		parent: map[module.Version]module.Version{},
		srcs:   map[module.Version]source{},
		isMain: map[string]bool{},
	}
	grp, gctx := newGroup(ctx, jobs)
	var done, total int64

	// add schedules m, required by parent, unless already seen; g.mu held.
	var add func(m, parent module.Version)
	add = func(m, parent module.Version) {
		if _, seen := g.parent[m]; seen {
			return
		}
		g.parent[m] = parent
		total++
		grp.Go(func() error {
			src, err := p.replacementOf(m)
			var s *summary
			if err == nil {
				s, err = l.load(gctx, src)
			}
			if err == nil {
				err = checkModulePath(m, src, s)
			}
			if err != nil {
				if ce := gctx.Err(); ce != nil && errors.Is(err, ce) {
					return err
				}
				if g.isMain[m.Path] && errors.Is(err, fs.ErrNotExist) {
					// A main module required at a version that no
					// mirror has (a workspace module required as
					// v0.0.0): builds work without it; go list -m all
					// and go mod graph fail on it, online too.
					l.log.Warn("main module required at a version no mirror serves; go list -m all and go mod graph will fail on it",
						"module", modString(m), "err", err)
					return nil
				}
				// Keep walking: the error is reported once the graph
				// is complete, with the shortest chain leading to it.
				g.mu.Lock()
				g.failed = append(g.failed, failure{m, src, err})
				g.mu.Unlock()
				return nil
			}
			reqs := p.filter(s.require)
			g.mu.Lock()
			defer g.mu.Unlock()
			g.reqs[m] = reqs
			g.goVer[m] = s.goVersion
			g.srcs[m] = src
			g.edges += len(reqs)
			for _, r := range reqs {
				add(r, m)
			}
			done++
			if progress != nil {
				progress(done, total, modString(m))
			}
			return nil
		})
	}
	g.mu.Lock()
	for _, mm := range p.mains {
		mv := module.Version{Path: mm.Path}
		g.mains = append(g.mains, mv)
		g.isMain[mv.Path] = true
		g.parent[mv] = mv
		reqs := p.filter(mm.Require)
		g.reqs[mv] = reqs
		g.edges += len(reqs)
	}
	for _, mm := range p.mains {
		mv := module.Version{Path: mm.Path}
		for _, r := range g.reqs[mv] {
			add(r, mv)
		}
	}
	g.mu.Unlock()
	if err := grp.Wait(); err != nil {
		return nil, err
	}
	if len(g.failed) > 0 {
		gaps, hard := graphGaps(p, g.failed, g.neededMods(p), l.strict)
		if len(hard) > 0 {
			g.failed = hard
			return nil, g.failure(l.log)
		}
		for _, gap := range gaps {
			l.log.Warn("module version left out", "gap", gap.String())
			l.gaps.add(gap)
		}
	}
	return g, nil
}

// checkModulePath refuses a fetched go.mod whose module line names neither
// the path it was required as nor its replacement's, as the go command does
// (modload goModSummary); local replacements may say anything.
func checkModulePath(m module.Version, src source, s *summary) error {
	switch {
	case src.Dir != "":
		return nil
	case s.modulePath == "":
		return errors.New("parsing go.mod: missing module line")
	case s.modulePath != m.Path && s.modulePath != src.Mod.Path:
		return fmt.Errorf("parsing go.mod: module declares its path as %s but was required as %s", s.modulePath, m.Path)
	}
	return nil
}

// failure is a module version of the graph that could not be loaded.
type failure struct {
	m   module.Version
	src source
	err error
}

// failure returns the error to report for the failed loads, the same
// whatever order they happened in: checksum mismatches first, then the
// shortest chain, then module order. The others are logged.
func (g *graph) failure(log *slog.Logger) error {
	type ranked struct {
		ce       *ChainError
		checksum bool
	}
	var rs []ranked
	for _, f := range g.failed {
		ce := g.chainError(f.m, f.src, f.err).(*ChainError)
		var cs *ChecksumError
		var ve *VerifyError
		rs = append(rs, ranked{ce, errors.As(f.err, &cs) || errors.As(f.err, &ve)})
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		switch {
		case a.checksum != b.checksum:
			if a.checksum {
				return -1
			}
			return 1
		case len(a.ce.Chain) != len(b.ce.Chain):
			return len(a.ce.Chain) - len(b.ce.Chain)
		}
		return strings.Compare(modString(a.ce.Chain[len(a.ce.Chain)-1]), modString(b.ce.Chain[len(b.ce.Chain)-1]))
	})
	for _, r := range rs[1:] {
		log.Error("module version not loaded", "err", r.ce)
	}
	return rs[0].ce
}

// filter drops requirements the go command ignores: excluded versions
// (since go 1.16 a requirement on an excluded version is dropped), "none",
// and the main modules themselves (Version ""). A requirement on a main
// module at a version is kept: the go command loads that go.mod and counts
// its requirements in MVS, while the main module stays selected (modload
// readModGraph, cmpVersion).
func (p *project) filter(reqs []module.Version) []module.Version {
	out := make([]module.Version, 0, len(reqs))
	for _, r := range reqs {
		if r.Version == "none" || r.Version == "" || p.exclude[r] {
			continue
		}
		out = append(out, r)
	}
	return out
}

// chainError builds the error for a node that failed to load, with the
// shortest chain of requirements from a main module to it (the same
// whatever order the loads finished in).
func (g *graph) chainError(m module.Version, src source, err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	ce := &ChainError{Chain: g.shortestChain(m), Err: err}
	if src.Dir != "" || src.Mod != m {
		ce.Source = src.String()
	}
	return ce
}

// shortestChain returns a shortest path of requirements from a main module
// to m, breadth first in the order go.mod files list requirements; g.mu held.
func (g *graph) shortestChain(m module.Version) []module.Version {
	prev := map[module.Version]module.Version{}
	seen := map[module.Version]bool{}
	queue := append([]module.Version(nil), g.mains...)
	for _, mv := range queue {
		seen[mv] = true
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == m {
			chain := []module.Version{m}
			for seen[cur] {
				p, ok := prev[cur]
				if !ok {
					break
				}
				chain = append(chain, p)
				cur = p
			}
			slices.Reverse(chain)
			return chain
		}
		for _, r := range g.reqs[cur] {
			if !seen[r] {
				seen[r] = true
				prev[r] = cur
				queue = append(queue, r)
			}
		}
	}
	return []module.Version{m}
}

// buildList returns the unpruned build list: the highest version of every
// module path reachable from the main modules (minimal version selection
// over the full graph), main modules excluded, sorted by path.
func (g *graph) buildList() []module.Version {
	sel := map[string]string{}
	for m := range g.parent {
		if m.Version == "" || g.isMain[m.Path] {
			continue
		}
		if v, ok := sel[m.Path]; !ok || semver.Compare(m.Version, v) > 0 {
			sel[m.Path] = m.Version
		}
	}
	return selected(sel)
}

// pruning is how the go command loads a module's requirements (see
// readModGraph in the go command's modload package).
type pruning int

const (
	pruned    pruning = iota // go 1.17+: requirements count, are not loaded
	unpruned                 // go 1.16-: the whole transitive graph is loaded
	workspace                // go.work: requirements are loaded one level deeper
)

// prunedBuildList returns the build list the go command computes from the
// pruned graph (go 1.17 and later main modules), or, with ws, in workspace
// mode. The main modules' requirements are loaded; a loaded module's
// requirements count, but are themselves loaded only when the module's
// go.mod says go 1.16 or earlier (then its whole transitive graph is
// loaded), or, in workspace mode, one level further, and again for every
// module whose selected version is above what its requirer asked for.
func (g *graph) prunedBuildList(p *project, ws bool) []module.Version {
	list, _ := g.prunedLoad(p, ws)
	return list
}

// prunedLoad is prunedBuildList that also returns the module versions
// whose go.mod the go command loads on the way.
func (g *graph) prunedLoad(p *project, ws bool) ([]module.Version, map[module.Version]bool) {
	pl := &prunedLoader{g: g, p: p, sel: map[string]string{}, seen: map[prunedItem]bool{}}
	mains := pl.loadMains(ws)
	pl.drain()
	if ws {
		pl.loadWorkspace(mains)
	}
	return selected(pl.sel), pl.loadedMods()
}

// prunedLoader is the state of [graph.prunedLoad]: the version selected
// so far of each module path, and the modules loaded, each with the
// pruning its requirements are loaded with.
type prunedLoader struct {
	g     *graph
	p     *project
	sel   map[string]string
	seen  map[prunedItem]bool
	queue []prunedItem
}

// prunedItem is a module loaded with a pruning.
type prunedItem struct {
	m module.Version
	p pruning
}

// note counts the requirement m in the selection.
func (pl *prunedLoader) note(m module.Version) {
	if pl.p.isMain(m.Path) {
		return // the main module is selected over any version
	}
	if v, ok := pl.sel[m.Path]; !ok || semver.Compare(m.Version, v) > 0 {
		pl.sel[m.Path] = m.Version
	}
}

// enqueue loads it, once.
func (pl *prunedLoader) enqueue(it prunedItem) {
	if !pl.seen[it] {
		pl.seen[it] = true
		pl.queue = append(pl.queue, it)
	}
}

// drain loads the queued modules: their requirements count, and are
// loaded in turn where the pruning says so.
func (pl *prunedLoader) drain() {
	for len(pl.queue) > 0 {
		it := pl.queue[0]
		pl.queue = pl.queue[1:]
		own := pruned
		if it.m.Version != "" && !goAtLeast(pl.g.goVer[it.m], 1, 17) {
			own = unpruned // main modules (Version "") are at go 1.17+ here
		}
		next := own
		if it.p == unpruned {
			next = unpruned
		}
		for _, r := range pl.g.reqs[it.m] {
			pl.note(r)
			if it.p != pruned || own == unpruned {
				pl.enqueue(prunedItem{r, next})
			}
		}
	}
}

// loadMains queues the main modules' requirements, which are loaded; in
// workspace mode (ws), as the requirements of the main modules, themselves
// loaded in workspace mode, each with its own pruning (readModGraph: a go
// 1.16 workspace module has its whole transitive graph loaded). It returns
// the main modules.
func (pl *prunedLoader) loadMains(ws bool) []module.Version {
	var mains []module.Version
	for _, mm := range pl.p.mains {
		mv := module.Version{Path: mm.Path}
		mains = append(mains, mv)
		pr := pruned
		if ws && !goAtLeast(mm.Go, 1, 17) {
			pr = unpruned
		}
		for _, r := range pl.g.reqs[mv] {
			pl.note(r)
			pl.enqueue(prunedItem{r, pr})
		}
	}
	return mains
}

// loadWorkspace then loads, in workspace mode, every module that a module
// so loaded requires at a version below the selected one, at the selected
// version, until there is none.
func (pl *prunedLoader) loadWorkspace(mains []module.Version) {
	hasDepsInAll := map[string]bool{}
	loaded := map[module.Version]bool{}
	for _, mv := range mains {
		hasDepsInAll[mv.Path] = true
	}
	for {
		need := map[module.Version]bool{}
		for path := range hasDepsInAll {
			m := module.Version{Path: path}
			if !pl.p.isMain(path) {
				m.Version = pl.sel[path]
			}
			if !loaded[m] {
				need[m] = true
				continue
			}
			for _, r := range pl.g.reqs[m] {
				s := module.Version{Path: r.Path, Version: pl.sel[r.Path]}
				if semver.Compare(s.Version, r.Version) > 0 && !loaded[s] {
					need[s] = true
				}
			}
		}
		if len(need) == 0 {
			return
		}
		for m := range need {
			pl.enqueue(prunedItem{m, workspace})
			loaded[m] = true
			hasDepsInAll[m.Path] = true
		}
		pl.drain()
	}
}

// loadedMods returns the module versions loaded.
func (pl *prunedLoader) loadedMods() map[module.Version]bool {
	out := map[module.Version]bool{}
	for it := range pl.seen {
		if it.m.Version != "" {
			out[it.m] = true
		}
	}
	return out
}

// neededMods returns the module versions whose go.mod the go command reads
// for p's everyday commands: those graph pruning loads and those of the
// build lists whose zips are bundled.
func (g *graph) neededMods(p *project) map[module.Version]bool {
	_, needed := g.prunedLoad(p, p.workspace)
	for _, list := range g.zipLists(p) {
		for _, m := range list {
			needed[m] = true
		}
	}
	return needed
}

// zipLists returns the build lists whose modules get zips: those the go
// command computes for the project, and, for a main module at go 1.17,
// whose go mod tidy checks compatibility with go 1.16, the unpruned one.
func (g *graph) zipLists(p *project) [][]module.Version {
	switch {
	case p.workspace:
		return [][]module.Version{g.prunedBuildList(p, true)}
	case !goAtLeast(p.goVersion, 1, 17):
		return [][]module.Version{g.buildList()}
	case !goAtLeast(p.goVersion, 1, 18):
		return [][]module.Version{g.prunedBuildList(p, false), g.buildList()}
	}
	return [][]module.Version{g.prunedBuildList(p, false)}
}

func selected(sel map[string]string) []module.Version {
	out := make([]module.Version, 0, len(sel))
	for p, v := range sel {
		out = append(out, module.Version{Path: p, Version: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// group runs functions in goroutines, at most limit at a time, and cancels
// the rest on the first error. Unlike a worker pool, Go never blocks, so a
// running function may start more.
type group struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context, limit int) (*group, context.Context) {
	if limit < 1 {
		limit = 1
	}
	gctx, cancel := context.WithCancelCause(ctx)
	return &group{ctx: gctx, cancel: cancel, sem: make(chan struct{}, limit)}, gctx
}

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		select {
		case g.sem <- struct{}{}:
		case <-g.ctx.Done():
			g.fail(context.Cause(g.ctx))
			return
		}
		err := f()
		<-g.sem
		if err != nil {
			g.fail(err)
		}
	}()
}

func (g *group) fail(err error) {
	g.once.Do(func() {
		g.err = err
		g.cancel(err)
	})
}

// Wait waits for every function and returns the first error.
func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel(nil)
	return g.err
}
