package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// Config says what [Resolve] resolves and how.
type Config struct {
	Inputs  []Input
	Mirrors *Mirrors // required
	SumDB   *SumDB   // nil when the checksum database is off
	// AllZips adds the zip of every module version of the graph, not only
	// of the build lists.
	AllZips bool
	// Strict turns gaps (see Gaps in gaps.go) into errors.
	Strict bool
	// Jobs bounds the go.mod and zip loads in flight (the mirrors bound
	// requests on their own); 0 means 16.
	Jobs     int
	Logger   *slog.Logger
	Progress func(Event) // may be nil; never called concurrently

	// The hooks below let a caller build its output while the resolver
	// works, as gobundle create does with a bundle writer; each may be nil.

	// HashZip computes the go.sum hash of a fetched zip in place of the
	// resolver, which then only verifies it: a bundle writer hashes a zip
	// as it reads it in, so each zip is inflated once. It is called from
	// several goroutines, also for zips fetched ahead of the build list
	// that may end up not bundled, and must not trust the zip. For a zip
	// just downloaded, it is the read that ends the zip's check, before
	// the download cache records it (a [ZipReader]): it must read every
	// file through archive/zip to its end, or answer from such a read of
	// the same bytes, and its error refuses the zip as invalid.
	HashZip func(ctx context.Context, m module.Version, f Fetched) (string, error)
	// Graph is called once every module version of the graph is loaded,
	// with its .info and verified .mod, before the last zips are: with the
	// module versions to bundle (Zip unset) and the zips still to come.
	Graph func(ctx context.Context, mods []Module, zips []module.Version) error
	// Zip is called for each zip once verified (m.Zip set), after Graph
	// returned and every .info is in, from several goroutines.
	Zip func(ctx context.Context, m Module) error
}

// Result is what [Resolve] found: every module version to bundle, with its
// files in the download cache, verified.
type Result struct {
	Inputs  []string // the inputs as recorded in bundle metadata ([Input.Record]), sorted
	Mirrors []string // the mirror chain, credentials removed
	Modules []Module // sorted by path, then version
	// Gaps are the files left out with a warning (see Gaps in gaps.go).
	Gaps  []Gap
	Stats Stats
}

// Module is one module version to bundle.
type Module struct {
	Path, Version string
	Info, Mod     []byte
	InfoOrigin    string // mirror that served the .info
	ModOrigin     string // mirror that served the .mod
	ModHash       string // go.sum hash of Mod ("h1:...")
	// Zip is the zip in the download cache; nil when the module version is
	// bundled without its zip.
	Zip     *Fetched
	ZipHash string // go.sum hash of the zip's content; "" without zip
	// GoSum reports that an input's go.sum listed the go.mod hash (and the
	// zip hash, when there is a zip) and they matched.
	GoSum bool
}

// Stats are figures about a resolution.
type Stats struct {
	Projects    int   // inputs resolved
	Nodes       int   // module versions in the graphs (as required, all inputs)
	Edges       int   // requirements in the graphs
	BuildList   int   // module versions in the unpruned build lists (all inputs)
	Modules     int   // module versions bundled
	Zips        int   // zips bundled
	Files       int   // .info, .mod and .zip files bundled
	Bytes       int64 // size of those files
	SumDBChecks int   // hashes confirmed by the checksum database (GONOSUMDB modules never are)
	GoSumChecks int   // hashes found in and matched with an input's go.sum
	// ZipsHashed counts zips inflated to compute their go.sum hash;
	// ZipHashesCached those whose hash the download cache remembered.
	ZipsHashed, ZipHashesCached int
	Fetch                       FetchStats
	Elapsed                     time.Duration
}

// fetcher is what the resolver needs of [Mirrors].
type fetcher interface {
	ReadFile(ctx context.Context, path, version, kind string) ([]byte, Fetched, error)
	Fetch(ctx context.Context, path, version, kind string) (Fetched, error)
	Chain() []string
	// Forget drops a file from the download cache, so that a file that
	// failed verification is fetched again next time.
	Forget(ctx context.Context, path, version, kind string) error
}

// zipHasher is implemented by fetchers that remember zip hashes
// ([Mirrors.ZipHash]); others' zips are hashed every time.
type zipHasher interface {
	ZipHash(ctx context.Context, path, version string, f Fetched) (h string, cached bool, err error)
}

// zipFetcher is implemented by fetchers that end the check of a zip they
// download by reading it through, and can have that read done by the
// caller's ([Mirrors.FetchZip]).
type zipFetcher interface {
	FetchZip(ctx context.Context, path, version string, read ZipReader) (f Fetched, h1 string, err error)
}

// sumChecker is what the resolver needs of [SumDB].
type sumChecker interface {
	Check(ctx context.Context, path, version string, isMod bool, h1 string) error
	// Covers reports whether the database checks path (GONOSUMDB
	// modules it does not): only those count as verified with it.
	Covers(path string) bool
}

// sumPrefetcher is implemented by sum checkers that can start reading the
// checksum database's answer for a module version before its hashes are
// known ([SumDB.Prefetch]); the [sumChecker.Check] that follows finds it
// read or in flight.
type sumPrefetcher interface {
	Prefetch(ctx context.Context, path, version string)
}

// Resolve walks the full requirement graph of every input through the
// mirrors, selects each input's build list, fetches the files a bundle needs
// and verifies every go.mod and zip against the inputs' go.sum files and the
// checksum database.
//
// # Files
//
// For every module version of the unpruned graph (after the main modules'
// replace and exclude directives; a replacement by a module version is
// fetched in place of the original): .info and .mod, which go list -m all
// and -mod=mod need. For every module of the build list the go command
// computes: .zip. That build list is the unpruned one (MVS over the full
// graph) for main modules at go 1.16 or earlier; the pruned one for go 1.18
// and later (the full graph's may select higher versions of modules no
// command loads, and holds many more); both at go 1.17, whose go mod tidy
// also checks the go 1.16 graph; in a workspace, the workspace's. A module
// whose path is a prefix of an imported package path is checked by go mod
// tidy only when it is in that build list, so its zip is there; tool
// directives name packages of required modules, covered the same way. With
// [Config.AllZips], every module version of the graph gets its zip.
//
// Main modules, used directories of a go.work and local-path replacements
// are read from disk and walked, but never bundled.
//
// # Errors
//
// A module version that cannot be loaded yields a [*ChainError] naming the
// requirements leading to it; a hash that differs from a go.sum line a
// [*ChecksumError]; a hash the checksum database refuses a [*VerifyError].
func Resolve(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Mirrors == nil {
		return nil, errors.New("resolver: no mirrors configured")
	}
	var c sumChecker
	if cfg.SumDB != nil {
		c = cfg.SumDB
	}
	res, err := resolve(ctx, cfg, cfg.Mirrors, c)
	if err != nil {
		return nil, err
	}
	res.Stats.Fetch = cfg.Mirrors.Stats()
	return res, nil
}

func resolve(ctx context.Context, cfg Config, f fetcher, c sumChecker) (*Result, error) {
	start := time.Now()
	if len(cfg.Inputs) == 0 {
		return nil, errors.New("resolver: no inputs")
	}
	r := newResolution(cfg, f, c)
	projects, err := r.readProjects(ctx)
	if err != nil {
		return nil, err
	}
	// Off the walk's critical path, two background lanes: .info files,
	// fetched as each go.mod is loaded (Graph waits for them, so they get as
	// many slots as the walk), and the zips of the main modules' own
	// requirements and of the go.sum files' zip lines, nearly always the
	// build list, fetched (and hashed) while the walk waits on the network.
	r.l.infos = newLane(ctx, max(1, r.jobs/2), r.jobs)
	defer r.l.infos.stop()
	r.prefetchLane = newLane(ctx, max(1, r.jobs/4), 0)
	defer r.prefetchLane.stop()

	// The zips go.sum lists first: the build lists' zips, in a tidy project.
	for _, m := range r.l.sums.zips() {
		r.prefetch(m)
	}
	for _, p := range projects {
		if err := r.walkProject(ctx, p); err != nil {
			return nil, err
		}
	}
	// Recorded sorted and once each: the order inputs were given in does
	// not change the bundle.
	slices.Sort(r.res.Inputs)
	r.res.Inputs = slices.Compact(r.res.Inputs)
	r.endWalk()

	zipList := make([]module.Version, 0, len(r.zips))
	for m := range r.zips {
		zipList = append(zipList, m)
	}
	sort.Slice(zipList, func(i, j int) bool { return lessVersion(zipList[i], zipList[j]) })
	zres, err := r.fetchZips(ctx, zipList)
	if err != nil {
		return nil, err
	}
	r.assemble(zres)
	r.res.Stats.Elapsed = time.Since(start)
	return r.res, nil
}

// resolution is the state of one [Resolve]: its settings, the loader, and
// what its steps hand on to the next.
type resolution struct {
	cfg  Config
	f    fetcher
	l    *loader
	log  *slog.Logger
	jobs int
	emit func(Event) // Config.Progress, serialized

	res      *Result
	zips     map[module.Version]bool // zips to bundle
	resolved int64                   // module versions walked so far, for progress

	prefetchLane *lane
	prefetched   map[module.Version]bool
}

func newResolution(cfg Config, f fetcher, c sumChecker) *resolution {
	r := &resolution{cfg: cfg, f: f, jobs: cfg.Jobs, log: cfg.Logger,
		res: &Result{Mirrors: f.Chain()}, zips: map[module.Version]bool{}, prefetched: map[module.Version]bool{}}
	if r.jobs <= 0 {
		r.jobs = 16
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	var pmu sync.Mutex
	r.emit = func(ev Event) {
		if cfg.Progress != nil {
			pmu.Lock()
			cfg.Progress(ev)
			pmu.Unlock()
		}
	}
	r.l = newLoader(f, c, r.log)
	r.l.hashZip = cfg.HashZip
	r.l.strict = cfg.Strict
	return r
}

// readProjects reads every local input and its go.sum files before
// anything is fetched, so that every hash is checked against all of them,
// and adds each workspace's modules on their own (see [memberProjects]).
func (r *resolution) readProjects(ctx context.Context) ([]*project, error) {
	projects := make([]*project, 0, len(r.cfg.Inputs))
	for _, in := range r.cfg.Inputs {
		p, err := loadProject(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, sf := range p.sumFiles {
			if err := r.l.sums.readFile(ctx, sf); err != nil {
				return nil, err
			}
		}
		projects = append(projects, p)
	}
	return append(projects, memberProjects(ctx, projects, r.log)...), nil
}

// prefetch fetches and hashes the zip of m in the prefetch lane, once,
// unless the walks are over by the time it starts.
func (r *resolution) prefetch(m module.Version) {
	if r.prefetched[m] {
		return
	}
	r.prefetched[m] = true
	l := r.l
	r.prefetchLane.Go(func(ctx context.Context) error {
		l.mu.Lock()
		if l.walked {
			l.mu.Unlock()
			return nil // the zip phase has begun: it fetches what is needed
		}
		p := &prehash{done: make(chan struct{})}
		l.prehashed[m] = p
		l.mu.Unlock()
		defer close(p.done)
		fz, h, err := l.fetchZip(ctx, m)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Debug("zip prefetch failed", "module", modString(m), "err", err)
			}
			return nil
		}
		// Hash it now, while the walk waits on the network: the zip
		// phase then only verifies.
		if h == "" {
			h, err = l.zipHash(ctx, m, fz)
		}
		if err == nil {
			p.sha256, p.h1 = fz.SHA256, h
		}
		return nil
	})
}

// walkProject walks the module graph of p and records its zips, and
// (unless p is a workspace module resolved on its own) its input and
// figures.
func (r *resolution) walkProject(ctx context.Context, p *project) error {
	if p.input.Kind == InputModule {
		if err := r.loadMainModule(ctx, p); err != nil {
			return err
		}
	}
	for _, mm := range p.mains {
		for _, req := range p.filter(mm.Require) {
			if src := p.resolve(req); src.Dir == "" {
				r.prefetch(src.Mod)
			}
		}
	}
	r.log.Debug("walking module graph", "input", p.input.String(), "mains", len(p.mains))
	g, err := walk(ctx, p, r.l, r.jobs, func(done, total int64, item string) {
		r.emit(Event{Phase: "resolve", Item: item, Done: r.resolved + done, Total: r.resolved + total})
	})
	if err != nil && p.outside && ctx.Err() == nil {
		r.log.Warn("go mod tidy in this workspace module outside the workspace fails, online as offline; bundled what its graph could load",
			"module", p.input.File, "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	r.resolved += int64(len(g.reqs) - len(p.mains))
	r.l.noteNeeded(p, g)
	r.noteZips(p, g)
	if p.outside {
		return nil
	}
	return r.recordProject(ctx, p, g)
}

// loadMainModule loads the module of a module@version input, which is the
// main module, as for go install M@V: its files are bundled, its replace
// and exclude are not applied.
func (r *resolution) loadMainModule(ctx context.Context, p *project) error {
	m := p.input.Module
	s, err := r.l.load(ctx, source{Mod: m})
	if err != nil {
		return &ChainError{Chain: []module.Version{m}, Err: err}
	}
	p.mains = []mainModule{{Path: m.Path, Go: s.goVersion, Require: s.require}}
	p.goVersion = s.goVersion
	r.zips[m] = true
	r.prefetch(m)
	return nil
}

// noteZips adds the zips of p's build lists (of its whole graph with
// Config.AllZips) to those to bundle, and warns about tool directives
// naming a package of no required module.
func (r *resolution) noteZips(p *project, g *graph) {
	inList := map[string]bool{}
	for _, list := range g.zipLists(p) {
		for _, m := range list {
			inList[m.Path] = true
			if s := p.resolve(m); s.Dir == "" {
				r.zips[s.Mod] = true
			}
		}
	}
	if r.cfg.AllZips {
		for _, s := range g.srcs {
			if s.Dir == "" {
				r.zips[s.Mod] = true
			}
		}
	}
	for _, t := range p.tools {
		if !providedBy(t, inList) && !providedByMain(t, p) {
			r.log.Warn("tool directive names a package of no required module", "input", p.input.String(), "tool", t)
		}
	}
}

// recordProject records p's input and the figures of its graph g.
func (r *resolution) recordProject(ctx context.Context, p *project, g *graph) error {
	rec, err := p.input.Record(ctx, p.mainPaths())
	if err != nil {
		return err
	}
	bl := g.buildList()
	r.res.Inputs = append(r.res.Inputs, rec)
	r.res.Stats.Projects++
	r.res.Stats.Nodes += len(g.parent) - len(p.mains)
	r.res.Stats.Edges += g.edges
	r.res.Stats.BuildList += len(bl)
	r.log.Info("resolved module graph", "input", p.input.String(), "nodes", len(g.parent)-len(p.mains),
		"edges", g.edges, "build_list", len(bl), "go", p.goVersion, "workspace", p.workspace)
	return nil
}

// endWalk marks the walks over: the .info lane may use every slot, and
// prefetches not yet started are left to the zip phase.
func (r *resolution) endWalk() {
	r.l.infos.boost()
	r.l.mu.Lock()
	r.l.walked = true
	r.l.mu.Unlock()
}

// zipResult is one zip fetched and verified.
type zipResult struct {
	f    Fetched
	hash string
	gs   bool // go.sum listed the hash, and it matched
}

// fetchZips fetches and verifies the zips of zipList, handing the graph
// (Config.Graph) and then each zip (Config.Zip) over as they are ready.
// No hook runs any more once it returns.
func (r *resolution) fetchZips(ctx context.Context, zipList []module.Version) (map[module.Version]zipResult, error) {
	var (
		zmu   sync.Mutex
		zdone int64
		zres  = make(map[module.Version]zipResult, len(zipList))
	)
	grp, gctx := newGroup(ctx, r.jobs)
	h := r.handOverGraph(gctx, grp, zipList)
	for _, m := range zipList {
		grp.Go(func() error {
			z, err := r.fetchZip(gctx, m, h)
			if err != nil {
				return err
			}
			zmu.Lock()
			zres[m] = z
			zdone++
			d := zdone
			zmu.Unlock()
			r.emit(Event{Phase: "verify", Item: modString(m) + " zip", Done: d, Total: int64(len(zipList)), Bytes: z.f.Size})
			return nil
		})
	}
	if err := grp.Wait(); err != nil {
		// No hook may run once Resolve returns.
		r.l.infos.stop()
		<-h.done
		return nil, err
	}
	<-h.done
	if h.err != nil {
		return nil, h.err
	}
	if err := r.l.infoWait(); err != nil {
		return nil, err
	}
	return zres, nil
}

// handover is Config.Graph's call, made in the background once the .info
// lane is done: done is closed when it returned (with err) or was skipped.
type handover struct {
	done chan struct{}
	err  error
}

// handOverGraph starts the handover of the graph; its failure fails grp.
func (r *resolution) handOverGraph(ctx context.Context, grp *group, zipList []module.Version) *handover {
	h := &handover{done: make(chan struct{})}
	go func() {
		defer close(h.done)
		if r.cfg.Graph == nil && r.cfg.Zip == nil {
			return
		}
		if h.err = r.l.infoWait(); h.err == nil && r.cfg.Graph != nil {
			r.log.Debug("every .info fetched; handing over the graph", "zips", len(zipList))
			h.err = r.cfg.Graph(ctx, r.l.modules(), zipList)
			r.log.Debug("graph handed over", "err", h.err)
		}
		if h.err != nil {
			grp.fail(h.err)
		}
	}()
	return h
}

// zipFetchError says that fetching m's zip failed with err, naming m once.
func zipFetchError(m module.Version, err error) error { return fetchError(m, "zip", err) }

// fetchError says that fetching m's file of kind failed with err, naming m
// once: [Mirrors.Fetch]'s errors are a *module.ModuleError for m already.
func fetchError(m module.Version, kind string, err error) error {
	if cause, ok := moduleErrorCause(m, err); ok {
		return &module.ModuleError{Path: m.Path, Version: m.Version, Err: fmt.Errorf("%s: %w", kind, cause)}
	}
	return fmt.Errorf("%s@%s: %s: %w", m.Path, m.Version, kind, err)
}

// fetchZip fetches and verifies the zip of m and, once the graph is handed
// over (h), hands it to Config.Zip.
func (r *resolution) fetchZip(ctx context.Context, m module.Version, h *handover) (zipResult, error) {
	fz, hash, err := r.l.fetchZip(ctx, m)
	if err != nil {
		if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
			return zipResult{}, err
		}
		return zipResult{}, zipFetchError(m, err)
	}
	if hash == "" {
		if hash, err = r.l.zipHashOnce(ctx, m, fz); err != nil {
			r.l.forget(ctx, m, "zip")
			return zipResult{}, err
		}
	}
	gs, err := r.l.verify(ctx, m, false, hash, fz.Origin)
	if err != nil {
		r.l.forget(ctx, m, "zip")
		return zipResult{}, err
	}
	if r.cfg.Zip != nil {
		select {
		case <-h.done:
		case <-ctx.Done():
			return zipResult{}, context.Cause(ctx)
		}
		if h.err != nil {
			return zipResult{}, h.err
		}
		rm := r.l.module(m)
		rm.Zip, rm.ZipHash, rm.GoSum = &fz, hash, rm.GoSum && gs
		if err := r.cfg.Zip(ctx, rm); err != nil {
			return zipResult{}, err
		}
	}
	return zipResult{fz, hash, gs}, nil
}

// assemble fills the result from every module version fetched and the
// zips zres.
func (r *resolution) assemble(zres map[module.Version]zipResult) {
	res, l := r.res, r.l
	for _, rm := range l.modules() {
		m := module.Version{Path: rm.Path, Version: rm.Version}
		res.Stats.Files += 2
		res.Stats.Bytes += int64(len(rm.Info) + len(rm.Mod))
		if z, ok := zres[m]; ok {
			fz := z.f
			rm.Zip, rm.ZipHash = &fz, z.hash
			rm.GoSum = rm.GoSum && z.gs
			res.Stats.Zips++
			res.Stats.Files++
			res.Stats.Bytes += fz.Size
		}
		res.Modules = append(res.Modules, rm)
	}
	res.Gaps = l.gaps.sorted()
	res.Stats.Modules = len(res.Modules)
	res.Stats.SumDBChecks = int(l.sumdbChecks.Load())
	res.Stats.GoSumChecks = int(l.gosumChecks.Load())
	res.Stats.ZipsHashed = int(l.zipsHashed.Load())
	res.Stats.ZipHashesCached = int(l.zipHashesCached.Load())
}

// memberProjects returns, for every module a go.work input uses, the
// module on its own: go mod tidy in a workspace module never uses go.work
// (modload InitWorkfile), so its own graph and build list must be in the
// bundle too. A member that cannot be read is left out with a warning.
func memberProjects(ctx context.Context, projects []*project, log *slog.Logger) []*project {
	var out []*project
	for _, p := range projects {
		if !p.workspace {
			continue
		}
		for _, mm := range p.mains {
			file := filepath.Join(mm.Dir, "go.mod")
			mp, err := loadProject(ctx, Input{Arg: file, Kind: InputGoMod, File: file})
			if err != nil {
				log.Warn("workspace module not resolved on its own", "module", file, "err", err)
				continue
			}
			mp.outside = true
			out = append(out, mp)
		}
	}
	return out
}

func lessVersion(a, b module.Version) bool {
	if a.Path != b.Path {
		return a.Path < b.Path
	}
	return a.Version < b.Version
}

// providedBy reports whether a module path in paths is a prefix of pkg.
func providedBy(pkg string, paths map[string]bool) bool {
	for p := pkg; ; {
		if paths[p] {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// mainPaths returns the paths of the project's main modules.
func (p *project) mainPaths() []string {
	out := make([]string, 0, len(p.mains))
	for _, mm := range p.mains {
		out = append(out, mm.Path)
	}
	return out
}

func providedByMain(pkg string, p *project) bool {
	mains := map[string]bool{}
	for _, mm := range p.mains {
		mains[mm.Path] = true
	}
	return providedBy(pkg, mains)
}

// summary is what the walk needs of a go.mod, and, for a module version
// fetched from the mirrors, its verified files.
type summary struct {
	goVersion  string
	modulePath string // of the module line; "" without one
	require    []module.Version

	mod         module.Version // "" path for local sources
	modData     []byte
	modFetched  Fetched
	modHash     string
	goSum       bool // the go.mod hash was found in a go.sum
	info        []byte
	infoFetched Fetched
}

// loader loads each go.mod once, for all inputs, and verifies it.
type loader struct {
	f    fetcher
	c    sumChecker // nil when off
	sums *goSums
	log  *slog.Logger

	mu        sync.Mutex
	memo      map[source]*loadEntry
	prehashed map[module.Version]*prehash // zips hashed by the prefetch lane
	walked    bool                        // the walks are over: no more prefetches
	// infos, when set, fetches the .info of every module version loaded.
	infos *lane
	// hashZip, when set, hashes zips (Config.HashZip).
	hashZip func(ctx context.Context, m module.Version, f Fetched) (string, error)
	strict  bool    // gaps are errors
	gaps    gapList // files left out
	// needed holds the module versions the go command reads for the
	// walked projects (all: some project needs the full graph); infoMiss
	// the .info files the mirrors answered 404/403/410 for.
	needed    map[module.Version]bool
	allNeeded bool
	infoMiss  []failure

	sumdbChecks, gosumChecks    atomic.Int64
	zipsHashed, zipHashesCached atomic.Int64
}

type loadEntry struct {
	ready chan struct{}
	s     *summary
	err   error
}

func newLoader(f fetcher, c sumChecker, log *slog.Logger) *loader {
	return &loader{f: f, c: c, sums: newGoSums(), log: log, memo: map[source]*loadEntry{}, prehashed: map[module.Version]*prehash{}}
}

// load returns the summary of src, loading it on first use.
func (l *loader) load(ctx context.Context, src source) (*summary, error) {
	l.mu.Lock()
	e, ok := l.memo[src]
	if !ok {
		e = &loadEntry{ready: make(chan struct{})}
		l.memo[src] = e
		l.mu.Unlock()
		if src.Dir != "" {
			e.s, e.err = l.loadDir(ctx, src.Dir)
		} else {
			e.s, e.err = l.loadRemote(ctx, src.Mod)
		}
		close(e.ready)
		return e.s, e.err
	}
	l.mu.Unlock()
	select {
	case <-e.ready:
		return e.s, e.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// modules returns every module version fetched, without zips, sorted.
func (l *loader) modules() []Module {
	var out []Module
	for _, s := range l.remote() {
		out = append(out, moduleOf(s))
	}
	sort.Slice(out, func(i, j int) bool {
		return lessVersion(module.Version{Path: out[i].Path, Version: out[i].Version},
			module.Version{Path: out[j].Path, Version: out[j].Version})
	})
	return out
}

// module returns module version m, fetched, without its zip.
func (l *loader) module(m module.Version) Module {
	l.mu.Lock()
	e := l.memo[source{Mod: m}]
	l.mu.Unlock()
	if e == nil {
		return Module{Path: m.Path, Version: m.Version}
	}
	<-e.ready
	if e.s == nil {
		return Module{Path: m.Path, Version: m.Version}
	}
	return moduleOf(e.s)
}

func moduleOf(s *summary) Module {
	return Module{Path: s.mod.Path, Version: s.mod.Version, Info: s.info, Mod: s.modData,
		InfoOrigin: s.infoFetched.Origin, ModOrigin: s.modFetched.Origin, ModHash: s.modHash, GoSum: s.goSum}
}

// remote returns the summaries of every module version fetched.
func (l *loader) remote() []*summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*summary
	for src, e := range l.memo {
		if src.Dir == "" && e.s != nil {
			out = append(out, e.s)
		}
	}
	return out
}

func (l *loader) loadDir(ctx context.Context, dir string) (*summary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("local replacement: %w", err)
	}
	mf, err := modfile.ParseLax(file, data, nil)
	if err != nil {
		return nil, err
	}
	return newSummary(mf), nil
}

func newSummary(mf *modfile.File) *summary {
	s := &summary{}
	if mf.Module != nil {
		s.modulePath = mf.Module.Mod.Path
	}
	if mf.Go != nil {
		s.goVersion = mf.Go.Version
	}
	for _, r := range mf.Require {
		s.require = append(s.require, r.Mod)
	}
	return s
}

func (l *loader) loadRemote(ctx context.Context, m module.Version) (*summary, error) {
	if p, ok := l.c.(sumPrefetcher); ok {
		// The lookup needs only m: read it while the go.mod is on its
		// way, not after, so that each level of the walk waits for one
		// round trip where it waited for two.
		p.Prefetch(ctx, m.Path, m.Version)
	}
	data, fm, err := l.f.ReadFile(ctx, m.Path, m.Version, "mod")
	if err != nil {
		return nil, err
	}
	h, err := hashGoMod(data)
	if err != nil {
		return nil, err
	}
	gs, err := l.verify(ctx, m, true, h, fm.Origin)
	if err != nil {
		l.forget(ctx, m, "mod")
		return nil, err
	}
	mf, err := modfile.ParseLax(m.Path+"@"+m.Version+"/go.mod", data, nil)
	if err != nil {
		return nil, err
	}
	s := newSummary(mf)
	s.mod, s.modData, s.modFetched, s.modHash, s.goSum = m, data, fm, h, gs
	if l.infos != nil {
		l.infos.Go(func(ctx context.Context) error {
			info, fi, err := l.f.ReadFile(ctx, m.Path, m.Version, "info")
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if missingFile(err) {
					// Decided once every walk is over (infoWait): a gap
					// unless the go command needs it.
					l.missingInfo(m, err)
					return nil
				}
				return fetchError(m, "info", err)
			}
			s.info, s.infoFetched = info, fi
			return nil
		})
	}
	return s, nil
}

// prehash is a zip hash computed by the prefetch lane; sha256 and h1 are
// set (or left empty on failure) when done is closed.
type prehash struct {
	done       chan struct{}
	sha256, h1 string
}

// zipHashOnce returns the go.sum hash of m's zip f, waiting for the
// prefetch lane if it is hashing it.
func (l *loader) zipHashOnce(ctx context.Context, m module.Version, f Fetched) (string, error) {
	l.mu.Lock()
	p, ok := l.prehashed[m]
	l.mu.Unlock()
	if ok {
		select {
		case <-p.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if p.h1 != "" && p.sha256 == f.SHA256 {
			return p.h1, nil
		}
	}
	return l.zipHash(ctx, m, f)
}

// fetchZip fetches m's zip. One downloaded now comes with its hash, from
// the read through every file that ends its check: with Config.HashZip,
// that read is the hasher's, which reads each zip in anyway (see
// [Mirrors.FetchZip]), so a zip is inflated once.
func (l *loader) fetchZip(ctx context.Context, m module.Version) (f Fetched, h1 string, err error) {
	zf, ok := l.f.(zipFetcher)
	if !ok {
		f, err = l.f.Fetch(ctx, m.Path, m.Version, "zip")
		return f, "", err
	}
	var read ZipReader
	if l.hashZip != nil {
		read = func(ctx context.Context, m module.Version, f Fetched) (string, error) {
			l.zipsHashed.Add(1)
			return l.hashZip(ctx, m, f)
		}
	}
	f, h1, err = zf.FetchZip(ctx, m.Path, m.Version, read)
	if err == nil && h1 != "" && read == nil {
		l.zipsHashed.Add(1)
	}
	return f, h1, err
}

// zipHash returns the go.sum hash of m's zip f.
func (l *loader) zipHash(ctx context.Context, m module.Version, f Fetched) (string, error) {
	if l.hashZip != nil {
		l.zipsHashed.Add(1)
		h, err := l.hashZip(ctx, m, f)
		if err != nil {
			return "", zipFetchError(m, err)
		}
		return h, nil
	}
	if zh, ok := l.f.(zipHasher); ok {
		h, cached, err := zh.ZipHash(ctx, m.Path, m.Version, f)
		if err != nil {
			return "", err
		}
		if cached {
			l.zipHashesCached.Add(1)
		} else {
			l.zipsHashed.Add(1)
		}
		return h, nil
	}
	l.zipsHashed.Add(1)
	return hashZip(m, f.File)
}

// forget drops a file that failed verification from the download cache.
func (l *loader) forget(ctx context.Context, m module.Version, kind string) {
	if err := l.f.Forget(context.WithoutCancel(ctx), m.Path, m.Version, kind); err != nil {
		l.log.Warn("cannot drop file that failed verification from the cache", "module", modString(m), "kind", kind, "err", err)
	}
}

// verify checks a hash against the go.sum lines and the checksum database.
// It reports whether a go.sum listed the file.
func (l *loader) verify(ctx context.Context, m module.Version, isMod bool, h, mirror string) (bool, error) {
	listed, err := l.sums.check(m.Path, m.Version, isMod, h, mirror)
	if err != nil {
		return listed, err
	}
	if listed {
		l.gosumChecks.Add(1)
	}
	if l.c != nil && l.c.Covers(m.Path) {
		if err := l.c.Check(ctx, m.Path, m.Version, isMod, h); err != nil {
			if ctx.Err() != nil {
				return listed, err
			}
			file := "zip"
			if isMod {
				file = "go.mod"
			}
			var se *SumDBError
			if errors.As(err, &se) && se.NoRecord && listed && !l.strict {
				// go.sum pins it and the database does not know it: as for
				// the go command, which never asks, go.sum vouches.
				gap := Gap{Path: m.Path, Version: m.Version, File: "sumdb",
					Reason: "no checksum database record (" + se.Source + " answered not found); its hashes are pinned by go.sum: bundled without a record"}
				l.log.Warn("module version not in the checksum database", "gap", gap.String())
				l.gaps.add(gap)
				return listed, nil
			}
			return listed, &VerifyError{Path: m.Path, Version: m.Version, File: file, Got: h, Mirror: mirror, Err: err}
		}
		l.sumdbChecks.Add(1)
	}
	return listed, nil
}

// lane runs background work at most n at a time (up to boosted once
// boost is called) and remembers the first error; stop cancels what has
// not finished.
type lane struct {
	ctx      context.Context
	cancel   context.CancelFunc
	sem      chan struct{}
	reserved int // slots of sem held back until boost
	boosted  sync.Once
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
}

func newLane(ctx context.Context, n, boosted int) *lane {
	lctx, cancel := context.WithCancel(ctx)
	ln := &lane{ctx: lctx, cancel: cancel, sem: make(chan struct{}, max(n, boosted))}
	for ln.reserved = 0; ln.reserved < boosted-n; ln.reserved++ {
		ln.sem <- struct{}{}
	}
	return ln
}

// boost raises the lane's limit to its boosted value.
func (ln *lane) boost() {
	ln.boosted.Do(func() {
		for range ln.reserved {
			<-ln.sem
		}
	})
}

// Go runs f in the lane; it never blocks.
func (ln *lane) Go(f func(ctx context.Context) error) {
	ln.wg.Add(1)
	go func() {
		defer ln.wg.Done()
		select {
		case ln.sem <- struct{}{}:
		case <-ln.ctx.Done():
			ln.fail(ln.ctx.Err())
			return
		}
		defer func() { <-ln.sem }()
		if err := f(ln.ctx); err != nil {
			ln.fail(err)
		}
	}()
}

func (ln *lane) fail(err error) {
	ln.mu.Lock()
	if ln.err == nil {
		ln.err = err
	}
	ln.mu.Unlock()
}

// wait waits for everything started and returns the first error.
func (ln *lane) wait() error {
	ln.wg.Wait()
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.err
}

func (ln *lane) stop() {
	ln.cancel()
	ln.wg.Wait()
}
