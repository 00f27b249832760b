package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// genKey is the key of b.packed under which the create10k stage leaves
// its bundle for the serve stage.
const genKey = "create10k"

// genOptions is the generated graph of the create10k stage: 2,000 modules
// × 5 versions = 10,000 module versions (-quick: 1,000).
func (b *bench) genOptions() fixtures.GenOptions {
	o := fixtures.GenOptions{Modules: 2000, Versions: 5, Seed: 1}
	if b.cfg.quick {
		o.Modules = 200
	}
	return o
}

// genRun is one create of the generated graph.
type genRun struct {
	bundle   string
	project  string
	create   measurement
	sum      createSummary
	stock    measurement
	stockOK  bool
	cmd      string
	stockCmd string
}

// stageCreate10k creates a bundle of 10,000 generated module versions from
// the test kit's fake upstream (started in this process, on 127.0.0.1) and
// reports the peak RSS and time of `gobundle create`, beside `go mod
// download all` of the same project from the same upstream.
func (b *bench) stageCreate10k(ctx context.Context) error {
	r, err := b.genBundle(ctx, true)
	if err != nil {
		return err
	}
	o := b.genOptions()
	tree := fmt.Sprintf("gen %dx%d", o.Modules, o.Versions)
	b.rep.add(figure{Tree: tree, Measure: "create peak RSS (stock: go mod download all)", Unit: unitBytes,
		Value: float64(r.create.MaxRSS), Stock: float64(r.stock.MaxRSS), HasStock: r.stockOK, TargetMax: 1 << 30, Target: "< 1 GiB", Runs: 1,
		Command: r.cmd, StockCommand: r.stockCmd})
	b.rep.add(figure{Tree: tree, Measure: "create time (wall; stock: go mod download all)", Unit: unitSeconds,
		Value: r.create.Wall.Seconds(), Stock: r.stock.Wall.Seconds(), HasStock: r.stockOK, Runs: 1, Command: r.cmd, StockCommand: r.stockCmd})
	b.rep.add(figure{Tree: tree, Measure: "create CPU (user+sys)", Unit: unitSeconds,
		Value: r.create.CPU.Seconds(), Stock: r.stock.CPU.Seconds(), HasStock: r.stockOK, Runs: 1, Command: r.cmd, StockCommand: r.stockCmd})
	b.rep.add(figure{Tree: tree, Measure: "module versions in the bundle", Unit: unitCount, Value: float64(r.sum.ModuleVersions), Runs: 1, Command: r.cmd})
	b.rep.add(figure{Tree: tree, Measure: "bundle size", Unit: unitBytes, Value: float64(r.sum.BundleSize), Runs: 1, Command: r.cmd})
	want := o.Modules * o.Versions
	b.rep.addCheck("create10k", fmt.Sprintf("bundle holds all %d generated module versions", want), r.sum.ModuleVersions >= want,
		fmt.Sprintf("%d module versions, %d zips, %d files, %d requests", r.sum.ModuleVersions, r.sum.Zips, r.sum.Files, r.sum.Requests), r.cmd)
	return nil
}

// genBundle returns the bundle of the generated graph: the one made
// earlier in this run, or a new one. With stock, `go mod download all` of
// the same project is timed too, before the create.
func (b *bench) genBundle(ctx context.Context, stock bool) (genRun, error) {
	var r genRun
	if err := b.needBin(); err != nil {
		return r, err
	}
	if p, ok := b.packed[genKey]; ok && !stock {
		if _, err := os.Stat(p); err == nil {
			r.bundle = p
			return r, nil
		}
	}
	o := b.genOptions()
	work := b.outPath("gen")
	if err := removeAll(work); err != nil {
		return r, err
	}
	r.project = filepath.Join(work, "project")
	b.log.Info("generating module graph", "modules", o.Modules, "versions", o.Versions)
	set := fixtures.Generate(o)
	if err := fixtures.WriteArchive(fixtures.GenProject(o), r.project); err != nil {
		return r, err
	}
	if err := set.WriteGoSum(r.project); err != nil {
		return r, err
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	b.log.Info("fake upstream", "url", up.URL, "module versions", set.Len())

	if stock {
		modcache := filepath.Join(work, "gomodcache")
		b.log.Info("go mod download all (generated graph)")
		m, err := b.execute(ctx, proc{dir: r.project, env: b.goEnv(modcache, up.URL, "off", "-mod=mod"), args: []string{"go", "mod", "download", "all"}})
		if err != nil {
			b.log.Warn("stock go mod download all of the generated graph failed", "err", err)
		} else {
			r.stock, r.stockOK = m, true
		}
		if err := removeAll(modcache); err != nil {
			return r, err
		}
		r.stockCmd = fmt.Sprintf("GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOSUMDB=off GOPROXY=<fake upstream> GOMODCACHE=$(mktemp -d) go mod download all  # in the generated project")
	}

	r.bundle = filepath.Join(work, "gen.gobundle")
	cache := filepath.Join(work, "cache")
	env := b.goEnv(filepath.Join(work, "create-gomodcache"), up.URL, "off", "-mod=mod")
	b.log.Info("gobundle create (generated graph)", "module versions", set.Len())
	m, s, err := b.runCreate(ctx, env, r.project, r.bundle, cache, "--proxy", up.URL, "--sumdb", "off")
	if err != nil {
		return r, err
	}
	r.create, r.sum = m, s
	r.cmd = fmt.Sprintf("%s create <generated project: fixtures.Generate(Modules: %d, Versions: %d, Seed: %d)> -o gen.gobundle --cache $(mktemp -d) --proxy <fake upstream> --sumdb off --json -q",
		b.binRel(), o.Modules, o.Versions, o.Seed)
	if err := removeAll(cache); err != nil {
		return r, err
	}
	b.packed[genKey] = r.bundle
	return r, nil
}
