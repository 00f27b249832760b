package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/repro"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/resolver"
)

// Run runs create's stages (see the package documentation) with opts.
func Run(ctx context.Context, opts Options) (*Result, error) {
	j := newJob(opts)
	defer j.close()
	for _, s := range j.stages() {
		if err := s.run(ctx); err != nil {
			return nil, err
		}
	}
	return j.result(), nil
}

// stage is one named step of a run.
type stage struct {
	name string
	run  func(ctx context.Context) error
}

// stages returns the stages of j in the order they run.
func (j *job) stages() []stage {
	return []stage{
		{"reproduce", j.openTarget},
		{"inputs", j.readInputs},
		{"settings", j.readSettings},
		{"sources", j.openSources},
		{"queries", j.resolveQueries},
		{"bases", j.openBases},
		{"writer", j.openWriter},
		{"toolchains", j.fetchToolchains},
		{"resolve", j.resolve},
		{"vulndb", j.fetchVulnDB},
		{"sumdb", j.collectSumDB},
		{"write", j.write},
		{"trim", j.trimCache},
		{"compare", j.compare},
	}
}

// job is the state of one run: the options, and what each stage hands to
// the later ones.
type job struct {
	opts    Options
	start   time.Time
	log     *slog.Logger
	emit    func(Event) // serialized Options.Events
	cleanup []func()    // run in reverse order by close

	target   *reproduceTarget // reproduce
	storage  bundle.WriterOptions
	inputs   []resolver.Input // inputs
	settings Settings         // settings
	mirrors  *resolver.Mirrors
	sumdb    *resolver.SumDB // sources; nil when off
	bases    *bases          // bases
	w        *bundle.Writer  // writer; nil on a dry run
	// toolchains are the Go toolchains fetched (toolchains); nil without.
	toolchains *resolver.ToolchainResult
	res        *resolver.Result
	// choices are the module@latest inputs resolved, inputGaps the --from
	// inputs left out (queries).
	choices   []resolver.Choice
	inputGaps []resolver.Gap
	vulndb    *VulnDB          // vulndb; nil without
	elapsed   time.Duration    // resolve, write
	sd        *sumdbstore.Data // sumdb
	props     []bundle.Property
	extras    []extra
	stats     bundle.Stats        // write
	trim      *resolver.TrimStats // trim
	report    *repro.Report       // compare
}

// extra is something the write stage adds to the bundle after the module
// versions, such as the checksum database data.
type extra struct {
	name string
	add  func(ctx context.Context, w *bundle.Writer) error
}

func newJob(opts Options) *job {
	j := &job{opts: opts, start: time.Now(), log: opts.Logger, storage: opts.Bundle}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	var mu sync.Mutex
	j.emit = func(ev Event) {
		if opts.Events != nil {
			mu.Lock()
			defer mu.Unlock()
			opts.Events(ev)
		}
	}
	return j
}

// onClose registers f to run when the job ends.
func (j *job) onClose(f func()) { j.cleanup = append(j.cleanup, f) }

func (j *job) close() {
	for i := len(j.cleanup) - 1; i >= 0; i-- {
		j.cleanup[i]()
	}
}

func (j *job) result() *Result {
	r := &Result{Resolved: j.res, SumDB: "off", Bundle: j.stats, CacheTrim: j.trim, Reproduce: j.report, Elapsed: j.elapsed,
		Toolchains: toolchainSummary(j.toolchains), Choices: j.choices, VulnDB: j.vulndb}
	if !j.opts.DryRun {
		r.Output = j.opts.Output
	}
	if j.sumdb != nil {
		r.SumDB = j.sumdb.Name()
	}
	return r
}

func (j *job) readInputs(ctx context.Context) (err error) {
	j.inputs, err = readInputs(ctx, j.opts.Inputs, j.opts.From, j.opts.GoWork)
	return err
}

func (j *job) readSettings(ctx context.Context) (err error) {
	j.settings, err = j.opts.Settings(ctx)
	return err
}

func (j *job) openSources(ctx context.Context) (err error) {
	cfg := sourceConfig{Settings: j.settings, Jobs: j.opts.Jobs, Retries: j.opts.Retries, Logger: j.log, Progress: j.resolverEvent}
	j.mirrors, j.sumdb, err = openSources(ctx, cfg)
	if j.mirrors != nil {
		j.onClose(func() { j.mirrors.Close() })
	}
	if j.sumdb != nil {
		j.onClose(func() { j.sumdb.Close() })
	}
	return err
}

// resolverEvent passes a resolver event on.
func (j *job) resolverEvent(ev resolver.Event) {
	j.emit(Event{Stage: ev.Phase, Item: ev.Item, Done: ev.Done, Total: ev.Total, Bytes: ev.Bytes})
}

func (j *job) openWriter(ctx context.Context) (err error) {
	if j.opts.DryRun {
		return nil
	}
	o := j.storage
	o.CacheDir = j.settings.CacheDir
	o.Bases = j.bases.delta
	o.Progress = func(ev bundle.Event) { j.emit(Event{Stage: "compress", Item: ev.Item, Done: ev.Done, Total: ev.Total}) }
	j.onClose(func() { j.emit(Event{Stage: "compress", End: true}) })
	if j.w, err = newWriter(o); err != nil {
		return err
	}
	j.onClose(func() { j.w.Close() })
	return nil
}

func (j *job) resolve(ctx context.Context) (err error) {
	cfg := resolver.Config{
		Inputs:   j.inputs,
		Mirrors:  j.mirrors,
		SumDB:    j.sumdb,
		AllZips:  j.opts.AllZips,
		Strict:   j.opts.Strict,
		Jobs:     j.opts.Jobs,
		Logger:   j.log,
		Progress: j.resolverEvent,
	}
	j.res, err = resolveGraph(ctx, cfg, j.w, toolchainZips(j.toolchains))
	if err != nil {
		return err
	}
	addToolchains(j.res, j.toolchains)
	j.res.Gaps = append(j.inputGaps, j.res.Gaps...)
	j.emit(Event{Stage: "resolve", End: true})
	j.emit(Event{Stage: "verify", End: true})
	j.elapsed = time.Since(j.start)
	return nil
}

func (j *job) collectSumDB(ctx context.Context) (err error) {
	if j.opts.DryRun {
		return nil
	}
	tree, err := j.pinnedTree(ctx)
	if err != nil {
		return err
	}
	if j.sumdb == nil {
		if len(j.opts.SumDBSince) > 0 {
			return UsageError{errors.New("create: --sumdb-since needs the checksum database (not --sumdb off)")}
		}
		return nil
	}
	if j.sd, err = collectSumDB(ctx, j.res, j.sumdb, j.bases.sumdb, tree); err != nil {
		return err
	}
	j.props = append(j.props, bundle.Property{Key: "sumdb", Value: j.sumdb.Name()})
	j.props = append(j.props, j.sd.Properties()...)
	// The data is signed, so where it was read (a mirror, the database
	// itself, the cache) adds nothing and would make a warm create differ
	// from a cold one: its origin is the database.
	j.extras = append(j.extras, extra{"sumdb", func(ctx context.Context, w *bundle.Writer) error {
		return j.sd.AddTo(ctx, w, j.sumdb.Name())
	}})
	return nil
}

func (j *job) write(ctx context.Context) (err error) {
	if j.opts.DryRun {
		return nil
	}
	props := append(j.props, gapProperties(j.res.Gaps)...)
	j.w.Describe(j.res.Inputs, j.res.Mirrors, props)
	if err := addModules(ctx, j.w, j.res.Modules, j.emit); err != nil {
		return err
	}
	for _, x := range j.extras {
		if err := x.add(ctx, j.w); err != nil {
			return err
		}
	}
	if j.stats, err = j.w.WriteFile(ctx, j.opts.Output); err != nil {
		return err
	}
	j.elapsed = time.Since(j.start)
	return nil
}

func (j *job) trimCache(ctx context.Context) error {
	if j.opts.CacheMax < 0 {
		return nil
	}
	// The bundle is written: a failed or interrupted trim is only a
	// warning (the cache stays consistent whatever was removed).
	ts, err := resolver.TrimCache(ctx, j.settings.CacheDir, j.opts.CacheMax)
	if err != nil {
		j.emit(Event{Stage: "warning", Item: "--cache-max: " + err.Error()})
	}
	j.trim = &ts
	return nil
}
