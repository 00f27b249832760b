package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/gobundle/gobundle/resolver"
)

// kit is a generated project with its go.sum, served by the test kit's fake
// upstream with a fake checksum database mounted on it, which serve the
// extra module versions too.
type kit struct {
	dir   string
	set   *fixtures.Set
	up    *fakeproxy.Server
	sumdb string // GOSUMDB value (name+key)
}

var genOptions = fixtures.GenOptions{Modules: 6, Versions: 2, Seed: 15}

func newKit(t *testing.T, extra ...*fixtures.Module) *kit {
	t.Helper()
	set := fixtures.Generate(genOptions)
	for _, m := range extra {
		set.Add(m)
	}
	up := fakeproxy.Start(set, 1)
	t.Cleanup(up.Close)
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sum.pipeline.example"})
	if err != nil {
		t.Fatal(err)
	}
	up.MountSumDB(db.Name(), db.Handler())
	dir := t.TempDir()
	if err := fixtures.WriteArchive(fixtures.GenProject(genOptions), dir); err != nil {
		t.Fatal(err)
	}
	if err := set.WriteGoSum(dir); err != nil {
		t.Fatal(err)
	}
	return &kit{dir: dir, set: set, up: up, sumdb: db.VerifierKey()}
}

// options returns options resolving the kit's project into output with a
// cache of its own; events are recorded in *events.
func (k *kit) options(t *testing.T, output string, events *[]Event) Options {
	cache := t.TempDir()
	var mu sync.Mutex
	return Options{
		Inputs: []string{k.dir},
		Settings: func(context.Context) (Settings, error) {
			return Settings{Proxy: k.up.URL, SumDB: k.sumdb, CacheDir: cache}, nil
		},
		Output:   output,
		Jobs:     8,
		CacheMax: -1,
		Bundle:   bundle.WriterOptions{Tool: "gobundle test"},
		Events: func(ev Event) {
			if events != nil {
				mu.Lock()
				*events = append(*events, ev)
				mu.Unlock()
			}
		},
	}
}

func TestReadInputs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n\ngo 1.22\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "inputs.txt")
	if err := os.WriteFile(list, []byte("# projects\n.\nexample.com/tool@v1.2.3\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	ins, err := readInputs(ctx, []string{dir}, []string{list}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 3 || ins[0].Kind != resolver.InputGoMod || ins[1].Kind != resolver.InputGoMod || ins[2].Kind != resolver.InputModule {
		t.Fatalf("inputs = %v", ins)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args, from []string
		want       string
	}{
		{[]string{filepath.Join(dir, "missing")}, nil, "missing"},
		{nil, []string{filepath.Join(dir, "nolist.txt")}, "--from: "},
		{nil, []string{empty}, "create: no inputs"},
	} {
		_, err := readInputs(ctx, tc.args, tc.from, "")
		if !errors.As(err, new(UsageError)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("readInputs(%q, %q): err = %v, want a usage error with %q", tc.args, tc.from, err, tc.want)
		}
	}
}

// TestRunWritesVerifiedBundle runs every stage against the fake upstream
// and checks the bundle: it verifies, holds what the resolver found and the
// checksum database data, and is the same bytes when built again from a
// cold cache; the events end every bar they start.
func TestRunWritesVerifiedBundle(t *testing.T) {
	k := newKit(t)
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "a.gobundle")
	var events []Event
	res, err := Run(ctx, k.options(t, out, &events))
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != out || res.SumDB != "sum.pipeline.example" || res.Bundle.FileSize == 0 || res.Elapsed <= 0 {
		t.Errorf("result = %+v", res)
	}
	if st := res.Resolved.Stats; st.Modules == 0 || st.Zips != genOptions.Modules || st.SumDBChecks == 0 || st.GoSumChecks == 0 {
		t.Errorf("resolver stats = %+v", st)
	}
	r, err := bundle.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if p := r.Verify(ctx, nil); len(p) != 0 {
		t.Fatalf("verify: %v", p)
	}
	if n := len(r.Modules()); n != res.Resolved.Stats.Modules {
		t.Errorf("bundle holds %d module versions, resolver found %d", n, res.Resolved.Stats.Modules)
	}
	if sumdbstore.Property(r.Meta(), "sumdb") != "sum.pipeline.example" {
		t.Errorf("no sumdb property: %v", r.Meta().Properties)
	}
	if !slices.ContainsFunc(r.Extras(), func(x bundle.Extra) bool { return x.Kind == sumdbstore.Kind }) {
		t.Error("no checksum database data in the bundle")
	}
	for _, stage := range []string{"resolve", "verify", "compress", "add"} {
		started := slices.ContainsFunc(events, func(ev Event) bool { return ev.Stage == stage && !ev.End })
		ended := slices.ContainsFunc(events, func(ev Event) bool { return ev.Stage == stage && ev.End })
		if !started || !ended {
			t.Errorf("stage %s: progress started %v, ended %v", stage, started, ended)
		}
	}

	again := filepath.Join(t.TempDir(), "b.gobundle")
	if _, err := Run(ctx, k.options(t, again, nil)); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("the same inputs made different bundle bytes")
	}
}

func TestRunDryRunWritesNothing(t *testing.T) {
	k := newKit(t)
	dir := t.TempDir()
	o := k.options(t, "", nil)
	o.DryRun = true
	o.Bundle.TempDir = dir
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "" || res.Bundle.FileSize != 0 || res.Resolved.Stats.Zips != genOptions.Modules {
		t.Errorf("dry run result = %+v, stats %+v", res, res.Resolved.Stats)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("dry run left %v", left)
	}
}

// TestRunSettingsAfterInputs: a bad input is reported before the settings
// (the go command) are asked for.
func TestRunSettingsAfterInputs(t *testing.T) {
	asked := false
	_, err := Run(context.Background(), Options{
		Inputs:   []string{filepath.Join(t.TempDir(), "missing")},
		Settings: func(context.Context) (Settings, error) { asked = true; return Settings{}, nil },
		DryRun:   true,
	})
	if !errors.As(err, new(UsageError)) || asked {
		t.Errorf("err = %v, settings asked: %v; want a usage error first", err, asked)
	}
}

func TestRunUsageErrors(t *testing.T) {
	k := newKit(t)
	earlier := filepath.Join(t.TempDir(), "earlier.gobundle")
	if _, err := Run(context.Background(), k.options(t, earlier, nil)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		edit func(*Options, *Settings)
		want string
	}{
		"since without sumdb": {func(o *Options, s *Settings) { o.SumDBSince = []string{earlier}; s.SumDB = "off" }, "--sumdb-since needs the checksum database"},
		"tree without sumdb":  {func(o *Options, s *Settings) { o.SumDBTree = earlier; s.SumDB = "off" }, "--sumdb-tree needs the checksum database"},
		"bad proxy":           {func(o *Options, s *Settings) { s.Proxy = "ftp://mirror.test" }, "create: --proxy: "},
		"bad sumdb":           {func(o *Options, s *Settings) { s.SumDB = "nokey.example" }, "create: --sumdb: "},
	} {
		out := filepath.Join(t.TempDir(), "x.gobundle")
		o := k.options(t, out, nil)
		s, _ := o.Settings(context.Background())
		tc.edit(&o, &s)
		o.Settings = func(context.Context) (Settings, error) { return s, nil }
		_, err := Run(context.Background(), o)
		if !errors.As(err, new(UsageError)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a usage error with %q", name, err, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: a bundle was written", name)
		}
	}
}

// TestRunIncremental: with Base, the bundle is incremental on it and holds
// only what it lacks (here nothing: the same inputs); a delta given as a
// base without its own base is an error naming the missing digest.
func TestRunIncremental(t *testing.T) {
	ctx := context.Background()
	k := newKit(t)
	dir := t.TempDir()
	full, delta, again := filepath.Join(dir, "full.gobundle"), filepath.Join(dir, "delta.gobundle"), filepath.Join(dir, "again.gobundle")
	if _, err := Run(ctx, k.options(t, full, nil)); err != nil {
		t.Fatal(err)
	}
	o := k.options(t, delta, nil)
	o.Base = []string{full}
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bundle.Modules != 0 || res.Bundle.Bases != 1 {
		t.Fatalf("delta on the same inputs: %d module versions, %d bases; want 0 and 1", res.Bundle.Modules, res.Bundle.Bases)
	}
	r, err := bundle.Open(ctx, full)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o = k.options(t, again, nil)
	o.Base = []string{delta}
	_, err = Run(ctx, o)
	if !errors.Is(err, bundle.ErrMissingBase) || !strings.Contains(err.Error(), r.Digest().String()) {
		t.Fatalf("delta on a delta without its base: %v", err)
	}
}

// TestRunReproduceAndTrim rebuilds a bundle with --reproduce (a match,
// from a cold cache) and trims the cache to nothing after the write.
func TestRunReproduceAndTrim(t *testing.T) {
	k := newKit(t)
	ctx := context.Background()
	old := filepath.Join(t.TempDir(), "old.gobundle")
	o := k.options(t, old, nil)
	o.Bundle.Level = 1 // zstd.SpeedFastest: the rebuild must take it from old
	if _, err := Run(ctx, o); err != nil {
		t.Fatal(err)
	}
	var events []Event
	o = k.options(t, filepath.Join(t.TempDir(), "new.gobundle"), &events)
	o.Reproduce = old
	o.CacheMax = 0
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reproduce == nil || !res.Reproduce.Match() {
		t.Errorf("reproduce report = %+v, want a match", res.Reproduce)
	}
	// Only module zips are removed: one per module of the kit's project.
	if res.CacheTrim == nil || res.CacheTrim.Removed != genOptions.Modules || res.CacheTrim.After >= res.CacheTrim.Before {
		t.Errorf("cache trim = %+v, want every zip removed", res.CacheTrim)
	}
	if slices.ContainsFunc(events, func(ev Event) bool { return ev.Stage == "warning" }) {
		t.Errorf("warnings: %v", events)
	}
}

// TestRunInterrupted: a run cancelled while zips are verified returns an
// error, writes no bundle and leaves no temporary file.
func TestRunInterrupted(t *testing.T) {
	k := newKit(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	out := filepath.Join(dir, "x.gobundle")
	o := k.options(t, out, nil)
	o.Bundle.TempDir = t.TempDir()
	o.Events = func(ev Event) {
		if ev.Stage == "verify" {
			cancel()
		}
	}
	if _, err := Run(ctx, o); err == nil {
		t.Fatal("an interrupted run succeeded")
	}
	for _, d := range []string{dir, o.Bundle.TempDir} {
		if left, _ := os.ReadDir(d); len(left) != 0 {
			t.Errorf("an interrupted run left %v in %s", left, d)
		}
	}
}
