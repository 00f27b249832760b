package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// createSummary is the part of `gobundle create --json` the bench reads.
type createSummary struct {
	ModuleVersions int     `json:"module_versions"`
	Zips           int     `json:"zips"`
	Files          int     `json:"files"`
	GraphNodes     int     `json:"graph_nodes"`
	BuildList      int     `json:"build_list"`
	BytesFetched   int64   `json:"bytes_fetched"`
	Requests       int64   `json:"requests"`
	CacheHits      int64   `json:"cache_hits"`
	SumDBChecks    int     `json:"sumdb_checks"`
	BundleSize     int64   `json:"bundle_size"`
	BundleModules  int     `json:"bundle_module_versions"`
	Seconds        float64 `json:"seconds"`
	SumDB          string  `json:"sumdb"`
}

// createdKey is the key of b.packed under which the create stage leaves
// the project's bundle (made with the checksum database) for the sumdb
// stage.
const createdKey = "create:project"

// projectWork is the start of a stage that runs commands on the project:
// the gobundle binary must exist, and a fresh work directory named name
// holds a copy of the project's source in src (a copy, since -mod=mod may
// touch go.mod and go.sum).
func (b *bench) projectWork(ctx context.Context, name string) (t *tree, work, src string, err error) {
	if err := b.needBin(); err != nil {
		return nil, "", "", err
	}
	if t, err = b.tree(ctx, "project"); err != nil {
		return nil, "", "", err
	}
	work = b.outPath(name)
	if err := removeAll(work); err != nil {
		return nil, "", "", err
	}
	src = filepath.Join(work, "src")
	if err := copyTree(t.ProjectDir, src); err != nil {
		return nil, "", "", err
	}
	return t, work, src, nil
}

// stageCreate times `gobundle create` of the project, cold and warm,
// beside `go mod download all` cold, interleaved, on the same mirror chain
// and checksum database (those of `go env`).
func (b *bench) stageCreate(ctx context.Context) error {
	t, work, src, err := b.projectWork(ctx, "create")
	if err != nil {
		return err
	}
	proxy, sumdb := b.goenv.GOPROXY, b.goenv.GOSUMDB
	var stock, cold, warm, raw, dry []measurement
	var stockStats treeStats
	var coldSum, warmSum, rawSum createSummary
	bundle := filepath.Join(work, "project.gobundle")
	for i := 0; i < b.cfg.repeat; i++ {
		// (a) the stock way: go mod download all, cold.
		modcache := filepath.Join(work, fmt.Sprintf("gomodcache-%d", i))
		b.log.Info("go mod download all (cold)", "run", i+1, "of", b.cfg.repeat)
		m, err := b.execute(ctx, proc{dir: src, env: b.goEnv(modcache, proxy, sumdb, "-mod=mod"), args: []string{"go", "mod", "download", "all"}})
		if err != nil {
			return err
		}
		stock = append(stock, m)
		b.log.Info("go mod download all (cold) done", "wall", m.Wall.Round(time.Millisecond))
		if stockStats, err = countTree(filepath.Join(modcache, "cache", "download")); err != nil {
			return err
		}
		if err := moveToTrash(work, modcache); err != nil {
			return err
		}

		// (b) gobundle create, cold: an empty download cache.
		cache := filepath.Join(work, fmt.Sprintf("cache-%d", i))
		createEnv := b.goEnv(filepath.Join(work, "create-gomodcache"), proxy, sumdb, "-mod=mod")
		b.log.Info("gobundle create (cold)", "run", i+1, "of", b.cfg.repeat)
		m, s, err := b.runCreate(ctx, createEnv, src, bundle, cache)
		if err != nil {
			return err
		}
		cold = append(cold, m)
		coldSum = s
		b.log.Info("gobundle create (cold) done", "wall", m.Wall.Round(time.Millisecond))

		// (c) the same again, warm.
		b.log.Info("gobundle create (warm)", "run", i+1, "of", b.cfg.repeat)
		m, s, err = b.runCreate(ctx, createEnv, src, bundle, cache)
		if err != nil {
			return err
		}
		warm = append(warm, m)
		warmSum = s
		b.log.Info("gobundle create (warm) done", "wall", m.Wall.Round(time.Millisecond))
		if err := moveToTrash(work, cache); err != nil {
			return err
		}

		// (d) create --raw-zips, cold: zips stored as served.
		rawCache := filepath.Join(work, fmt.Sprintf("cache-raw-%d", i))
		b.log.Info("gobundle create --raw-zips (cold)", "run", i+1, "of", b.cfg.repeat)
		m, s, err = b.runCreate(ctx, createEnv, src, filepath.Join(work, "project-raw.gobundle"), rawCache, "--raw-zips")
		if err != nil {
			return err
		}
		raw = append(raw, m)
		rawSum = s
		b.log.Info("gobundle create --raw-zips (cold) done", "wall", m.Wall.Round(time.Millisecond))
		if err := moveToTrash(work, rawCache); err != nil {
			return err
		}

		// (e) create --dry-run, cold: the resolver's share, no bundle.
		dryCache := filepath.Join(work, fmt.Sprintf("cache-dry-%d", i))
		b.log.Info("gobundle create --dry-run (cold)", "run", i+1, "of", b.cfg.repeat)
		m, err = b.execute(ctx, proc{dir: src, env: createEnv, args: []string{b.cfg.bin, "create", src, "--dry-run", "--cache", dryCache, "-q"}})
		if err != nil {
			return err
		}
		dry = append(dry, m)
		b.log.Info("gobundle create --dry-run (cold) done", "wall", m.Wall.Round(time.Millisecond))
		if err := moveToTrash(work, dryCache); err != nil {
			return err
		}
		if err := moveToTrash(work, filepath.Join(work, "create-gomodcache")); err != nil {
			return err
		}
	}
	if err := emptyTrash(work); err != nil {
		return err
	}
	b.packed[createdKey] = bundle

	n := len(cold)
	stockCmd := fmt.Sprintf("cd %s && GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=%s GOSUMDB=%s GOMODCACHE=$(mktemp -d) go mod download all",
		b.rel(t.ProjectDir), shellQuote([]string{proxy}), shellQuote([]string{sumdb}))
	coldCmd := fmt.Sprintf("GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=%s GOSUMDB=%s %s create %s -o project.gobundle --cache $(mktemp -d) --json -q",
		shellQuote([]string{proxy}), shellQuote([]string{sumdb}), b.binRel(), b.rel(t.ProjectDir))
	warmCmd := coldCmd + "  # then again with the same --cache"
	coldWall, warmWall, stockWall := medianWall(cold), medianWall(warm), medianWall(stock)
	b.rep.add(figure{Tree: "project", Measure: "create cold vs go mod download all cold (wall)", Unit: unitSeconds,
		Value: coldWall, Stock: stockWall, HasStock: true, TargetMax: 0.5, TargetRatio: true, Runs: n,
		Note: "interleaved: go mod download all cold, create cold, create warm", Command: coldCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "create warm vs create cold (wall; stock column: cold)", Unit: unitSeconds,
		Value: warmWall, Stock: coldWall, HasStock: true, TargetMax: 0.10, TargetRatio: true, Target: "< 0.10×", Runs: n,
		Command: warmCmd, StockCommand: coldCmd})
	rawCmd := strings.Replace(coldCmd, "--json", "--raw-zips --json", 1)
	b.rep.add(figure{Tree: "project", Measure: "create --raw-zips cold vs go mod download all cold (wall)", Unit: unitSeconds,
		Value: medianWall(raw), Stock: stockWall, HasStock: true, Runs: n,
		Note: "zips stored as the mirror served them; interleaved with the runs above", Command: rawCmd, StockCommand: stockCmd})
	dryCmd := strings.Replace(strings.Replace(coldCmd, " -o project.gobundle", "", 1), "--json", "--dry-run", 1)
	b.rep.add(figure{Tree: "project", Measure: "create --dry-run cold (resolve, fetch, verify; no bundle) vs go mod download all cold (wall)", Unit: unitSeconds,
		Value: medianWall(dry), Stock: stockWall, HasStock: true, Runs: n,
		Note: "the resolver's share of a create; interleaved with the runs above", Command: dryCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "create --dry-run cold CPU (user+sys; stock: go mod download all)", Unit: unitSeconds,
		Value: medianCPU(dry), Stock: medianCPU(stock), HasStock: true, Runs: n, Command: dryCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "create --raw-zips cold CPU (user+sys; stock: go mod download all)", Unit: unitSeconds,
		Value: medianCPU(raw), Stock: medianCPU(stock), HasStock: true, Runs: n, Command: rawCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "bundle size, create --raw-zips (stock: create)", Unit: unitBytes,
		Value: float64(rawSum.BundleSize), Stock: float64(coldSum.BundleSize), HasStock: true, Runs: 1, Command: rawCmd, StockCommand: coldCmd})
	b.rep.add(figure{Tree: "project", Measure: "create cold CPU (user+sys; stock: go mod download all)", Unit: unitSeconds,
		Value: medianCPU(cold), Stock: medianCPU(stock), HasStock: true, Runs: n, Command: coldCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "create cold peak RSS (stock: go mod download all)", Unit: unitBytes,
		Value: medianRSS(cold), Stock: medianRSS(stock), HasStock: true, Runs: n, Command: coldCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "create warm peak RSS", Unit: unitBytes, Value: medianRSS(warm), Runs: n, Command: warmCmd})
	b.rep.add(figure{Tree: "project", Measure: "bundle size (stock: go mod download all's cache/download)", Unit: unitBytes,
		Value: float64(coldSum.BundleSize), Stock: float64(stockStats.Bytes), HasStock: true, Runs: 1, Command: coldCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "module versions with .mod (stock: .mod files go fetched)", Unit: unitCount,
		Value: float64(coldSum.ModuleVersions), Stock: float64(stockStats.Mods), HasStock: true, Runs: 1, Command: coldCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "zips (stock: zips go fetched)", Unit: unitCount,
		Value: float64(coldSum.Zips), Stock: float64(stockStats.Zips), HasStock: true, Runs: 1, Command: coldCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "bytes fetched cold (stock: bytes in go's cache/download)", Unit: unitBytes,
		Value: float64(coldSum.BytesFetched), Stock: float64(stockStats.Bytes), HasStock: true, Runs: 1, Command: coldCmd, StockCommand: stockCmd})
	b.rep.addNote("create (project %s): cold create fetched %d files in %d requests (%d module versions, %d zips, build list %d, %d checksum database checks); the warm create made %d requests with %d cache hits. Mirror %s, GOSUMDB %s.",
		t.Project, coldSum.Files, coldSum.Requests, coldSum.ModuleVersions, coldSum.Zips, coldSum.BuildList, coldSum.SumDBChecks, warmSum.Requests, warmSum.CacheHits, proxy, sumdb)
	b.rep.addCheck("create", "project: warm create fetches nothing", warmSum.Requests == 0,
		fmt.Sprintf("%d requests, %d cache hits", warmSum.Requests, warmSum.CacheHits), warmCmd)
	return nil
}

// runCreate runs `gobundle create dir -o out --cache cache --json -q` and
// returns its measurement and summary.
func (b *bench) runCreate(ctx context.Context, env []string, dir, out, cache string, extra ...string) (measurement, createSummary, error) {
	var s createSummary
	args := append([]string{b.cfg.bin, "create", dir, "-o", out, "--cache", cache, "--json", "-q"}, extra...)
	var stdout strings.Builder
	m, err := b.execute(ctx, proc{dir: dir, env: env, args: args, stdout: &stdout})
	if err != nil {
		return m, s, err
	}
	if err := json.Unmarshal([]byte(stdout.String()), &s); err != nil {
		return m, s, fmt.Errorf("%s: reading its JSON summary: %w", shellQuote(args), err)
	}
	if s.BundleSize == 0 {
		s.BundleSize = fileSize(out)
	}
	return m, s, nil
}

// moveToTrash moves dir (if it exists) into work/trash at once, so that
// the slow removal of an extracted module cache or download cache happens
// after the timed runs instead of between them.
func moveToTrash(work, dir string) error {
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil
	}
	trash := filepath.Join(work, "trash")
	if err := os.MkdirAll(trash, 0o755); err != nil {
		return err
	}
	return os.Rename(dir, filepath.Join(trash, fmt.Sprintf("%d-%s", time.Now().UnixNano(), filepath.Base(dir))))
}

// emptyTrash removes what moveToTrash moved.
func emptyTrash(work string) error {
	return removeAll(filepath.Join(work, "trash"))
}

func medianWall(ms []measurement) float64 {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = m.Wall.Seconds()
	}
	return median(xs)
}

func medianCPU(ms []measurement) float64 {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = m.CPU.Seconds()
	}
	return median(xs)
}

func medianRSS(ms []measurement) float64 {
	xs := make([]float64, len(ms))
	for i, m := range ms {
		xs[i] = float64(m.MaxRSS)
	}
	return median(xs)
}

// projectBundleWithSumDB returns the project's bundle made by `gobundle
// create` with the checksum database: the create stage's, or a new one
// made with a download cache kept under .bench/sumdb (so only the first
// run of the sumdb stage alone fetches everything).
func (b *bench) projectBundleWithSumDB(ctx context.Context) (string, error) {
	if p, ok := b.packed[createdKey]; ok {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if err := b.needBin(); err != nil {
		return "", err
	}
	t, err := b.tree(ctx, "project")
	if err != nil {
		return "", err
	}
	out := b.outPath("sumdb-project.gobundle")
	cache := filepath.Join(b.treeBase("sumdb"), "cache")
	env := b.goEnv(filepath.Join(b.tmpDir(), "sumdb-gomodcache"), b.goenv.GOPROXY, b.goenv.GOSUMDB, "-mod=mod")
	b.log.Info("gobundle create with the checksum database", "project", t.Project, "cache", b.rel(cache))
	if _, _, err := b.runCreate(ctx, env, t.ProjectDir, out, cache); err != nil {
		return "", err
	}
	b.packed[createdKey] = out
	return out, nil
}
