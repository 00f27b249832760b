package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

// memoryTarget is the peak RSS a cold create must stay under, whatever
// its input (issue 15).
const memoryTarget = 768 << 20

// timedRuns is how many interleaved runs the carry and latency stages
// take medians of: -repeat, at least 3.
func (b *bench) timedRuns() int { return max(b.cfg.repeat, 3) }

// stockCarryCmd is the stock carry workflow's archive step, run in a
// module cache's cache/download.
const stockCarryCmd = "tar -cf - . | zstd -19 --long=27 -T0 -q -c > carry.tar.zst"

// stageCarry times a cold `gobundle create` at its defaults against the
// stock carry workflow (a cold `go mod download all`, then tar | zstd -19
// --long=27 -T0 of the cache), interleaved, on the project through the
// mirror chain of `go env`: wall, CPU, peak RSS, size; and create's size
// split, with its module content beside tar | zstd -19 --long=27 of the
// same files as the mirror served them (the latency stage's recording).
func (b *bench) stageCarry(ctx context.Context) error {
	t, work, src, err := b.projectWork(ctx, "carry")
	if err != nil {
		return err
	}
	if err := b.addCPUReference(ctx, t); err != nil {
		return err
	}
	proxy, sumdb := b.goenv.GOPROXY, b.goenv.GOSUMDB
	var dl, tarz, carry, cold []measurement
	var archive int64
	bundle := filepath.Join(work, "project.gobundle")
	for i := 0; i < b.timedRuns(); i++ {
		modcache := filepath.Join(work, fmt.Sprintf("gomodcache-%d", i))
		b.log.Info("carry: go mod download all (cold)", "run", i+1, "of", b.timedRuns())
		m1, err := b.execute(ctx, proc{dir: src, env: b.goEnv(modcache, proxy, sumdb, "-mod=mod"), args: []string{"go", "mod", "download", "all"}})
		if err != nil {
			return err
		}
		b.log.Info("carry: tar | zstd -19 --long=27 -T0", "run", i+1)
		out := filepath.Join(work, "carry.tar.zst")
		m2, err := b.execute(ctx, proc{dir: filepath.Join(modcache, "cache", "download"), args: []string{"bash", "-o", "pipefail", "-c",
			"tar -cf - . | zstd -19 --long=27 -T0 -q -c > " + shellQuote([]string{out})}})
		if err != nil {
			return err
		}
		archive = fileSize(out)
		dl, tarz = append(dl, m1), append(tarz, m2)
		carry = append(carry, measurement{Wall: m1.Wall + m2.Wall, CPU: m1.CPU + m2.CPU, MaxRSS: max(m1.MaxRSS, m2.MaxRSS)})
		b.log.Info("carry: stock done", "download", m1.Wall.Round(time.Millisecond), "archive", m2.Wall.Round(time.Millisecond), "size", archive)
		if err := moveToTrash(work, modcache); err != nil {
			return err
		}

		cache := filepath.Join(work, fmt.Sprintf("cache-%d", i))
		env := b.goEnv(filepath.Join(work, "create-gomodcache"), proxy, sumdb, "-mod=mod")
		b.log.Info("carry: gobundle create (cold, defaults)", "run", i+1, "of", b.timedRuns())
		m, _, err := b.runCreate(ctx, env, src, bundle, cache)
		if err != nil {
			return err
		}
		cold = append(cold, m)
		b.log.Info("carry: gobundle create done", "wall", m.Wall.Round(time.Millisecond), "rss", m.MaxRSS)
		if err := moveToTrash(work, cache); err != nil {
			return err
		}
	}
	if err := emptyTrash(work); err != nil {
		return err
	}
	split, err := b.inspectSplit(ctx, bundle)
	if err != nil {
		return err
	}
	n := len(cold)
	dlCmd := fmt.Sprintf("cd %s && GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=%s GOSUMDB=%s GOMODCACHE=$PWD/m go mod download all",
		b.rel(t.ProjectDir), shellQuote([]string{proxy}), shellQuote([]string{sumdb}))
	carryCmd := dlCmd + " && cd m/cache/download && " + stockCarryCmd
	createCmd := fmt.Sprintf("GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=%s GOSUMDB=%s %s create %s -o project.gobundle --cache $(mktemp -d)",
		shellQuote([]string{proxy}), shellQuote([]string{sumdb}), b.binRel(), b.rel(t.ProjectDir))
	note := "interleaved: go mod download all, tar|zstd, create"
	b.rep.add(figure{Tree: "project", Measure: "carry: create cold (defaults) vs stock carry workflow (wall)", Unit: unitSeconds,
		Value: medianWall(cold), Stock: medianWall(carry), HasStock: true, TargetMax: 0.35, TargetRatio: true, Runs: n,
		Note: note, Command: createCmd, StockCommand: carryCmd})
	b.rep.add(figure{Tree: "project", Measure: "carry: create cold (defaults) vs go mod download all cold, this machine's mirror (wall)", Unit: unitSeconds,
		Value: medianWall(cold), Stock: medianWall(dl), HasStock: true, TargetMax: 1.0, TargetRatio: true, Runs: n,
		Note: note, Command: createCmd, StockCommand: dlCmd})
	b.rep.add(cpuFloorFigure("carry, this machine's mirror", cold, medianWall(dl), 1.0, runtime.NumCPU(), createCmd, dlCmd))
	b.rep.add(figure{Tree: "project", Measure: "carry: tar|zstd -19 --long=27 -T0 of go's cache alone (wall; stock: go mod download all)", Unit: unitSeconds,
		Value: medianWall(tarz), Stock: medianWall(dl), HasStock: true, Runs: n, Command: stockCarryCmd, StockCommand: dlCmd})
	b.rep.add(figure{Tree: "project", Measure: "carry: create cold CPU (user+sys) vs stock carry workflow", Unit: unitSeconds,
		Value: medianCPU(cold), Stock: medianCPU(carry), HasStock: true, Runs: n, Command: createCmd, StockCommand: carryCmd})
	b.rep.add(figure{Tree: "project", Measure: "carry: create cold peak RSS (stock: go mod download all)", Unit: unitBytes,
		Value: medianRSS(cold), Stock: medianRSS(dl), HasStock: true, TargetMax: memoryTarget, Runs: n, Command: createCmd, StockCommand: dlCmd})
	b.rep.add(figure{Tree: "project", Measure: "carry: tar|zstd -19 --long=27 -T0 peak RSS (stock: go mod download all)", Unit: unitBytes,
		Value: medianRSS(tarz), Stock: medianRSS(dl), HasStock: true, Runs: n, Command: stockCarryCmd, StockCommand: dlCmd})
	b.rep.add(figure{Tree: "project", Measure: "carry: bundle size vs carry.tar.zst", Unit: unitBytes,
		Value: float64(fileSize(bundle)), Stock: float64(archive), HasStock: true, Runs: 1, Command: createCmd, StockCommand: carryCmd})
	inspectCmd := b.binRel() + " inspect project.gobundle  # size split"
	b.rep.add(figure{Tree: "project", Measure: "carry: bundle's module content (.info, .mod, zips) vs carry.tar.zst", Unit: unitBytes,
		Value: float64(split.Modules), Stock: float64(archive), HasStock: true, Runs: 1, Command: inspectCmd, StockCommand: carryCmd})
	b.rep.add(figure{Tree: "project", Measure: "carry: bundle's checksum database data (stock: the sumdb files in carry's cache)", Unit: unitBytes,
		Value: float64(split.Extras["sumdb"]), Runs: 1, Command: inspectCmd})
	b.rep.add(figure{Tree: "project", Measure: "carry: bundle's index", Unit: unitBytes, Value: float64(split.Index), Runs: 1, Command: inspectCmd})
	return b.sameFilesFigure(ctx, bundle, split, createCmd)
}

// sameFilesFigure compares the bundle's module content with tar | zstd
// -19 --long=27 of the same files as the mirror served them: the .info,
// .mod and .zip files the bundle holds, taken from the latency stage's
// recording of everything create fetched, laid out as go's cache.
func (b *bench) sameFilesFigure(ctx context.Context, bundle string, split sizeSplit, createCmd string) error {
	rec, err := b.recordedTree(ctx)
	if err != nil {
		return err
	}
	mods, err := b.bundleModules(ctx, bundle)
	if err != nil {
		return err
	}
	same := filepath.Join(b.tmpDir(), "samefiles")
	if err := removeAll(same); err != nil {
		return err
	}
	var missing []string
	for _, m := range mods {
		ep, err := module.EscapePath(m.Path)
		if err != nil {
			return err
		}
		ev, err := module.EscapeVersion(m.Version)
		if err != nil {
			return err
		}
		exts := []string{".info", ".mod"}
		if m.Zip != nil {
			exts = append(exts, ".zip")
		}
		for _, ext := range exts {
			rel := filepath.Join(filepath.FromSlash(ep), "@v", ev+ext)
			if _, err := os.Stat(filepath.Join(rec, rel)); err != nil {
				missing = append(missing, m.Path+"@"+m.Version+ext)
				continue
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(same, rel)), 0o755); err != nil {
				return err
			}
			if err := os.Link(filepath.Join(rec, rel), filepath.Join(same, rel)); err != nil {
				if err := copyFile(filepath.Join(rec, rel), filepath.Join(same, rel)); err != nil {
					return err
				}
			}
		}
	}
	if len(missing) > 0 {
		b.log.Warn("files of the bundle not in the recording", "count", len(missing), "first", missing[0])
	}
	out := filepath.Join(b.tmpDir(), "samefiles.tar.zst")
	b.log.Info("carry: tar | zstd -19 --long=27 of the bundle's files as the mirror served them")
	if _, err := b.execute(ctx, proc{dir: same, args: []string{"bash", "-o", "pipefail", "-c",
		"tar -cf - . | zstd -19 --long=27 -T0 -q -c > " + shellQuote([]string{out})}}); err != nil {
		return err
	}
	stockCmd := "mkdir t && <copy the bundle's .info/.mod/.zip files, as the mirror served them, into t as go's cache/download> && cd t && " + stockCarryCmd
	b.rep.add(figure{Tree: "project", Measure: "create (defaults): module content vs tar|zstd -19 --long=27 of the same files as go's cache", Unit: unitBytes,
		Value: float64(split.Modules), Stock: float64(fileSize(out)), HasStock: true, TargetMax: 0.70, TargetRatio: true, Runs: 1,
		Note:    fmt.Sprintf("%d module versions; %d of their files missing from the recording", len(mods), len(missing)),
		Command: createCmd + " && " + b.binRel() + " inspect project.gobundle", StockCommand: stockCmd})
	b.discard(same, out)
	return nil
}

// sizeSplit is the part of `gobundle inspect --json` size_split the bench
// reads.
type sizeSplit struct {
	Modules int64            `json:"modules"`
	Extras  map[string]int64 `json:"extras"`
	Index   int64            `json:"index"`
}

// bundleModule is the part of an inspect --json module the bench reads.
type bundleModule struct {
	Path, Version string
	Zip           *struct{ Size int64 }
}

func (b *bench) inspectJSON(ctx context.Context, bundle string, v any) error {
	out, err := b.output(ctx, proc{args: []string{b.cfg.bin, "inspect", "--json", bundle}})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("gobundle inspect --json %s: %w", bundle, err)
	}
	return nil
}

func (b *bench) inspectSplit(ctx context.Context, bundle string) (sizeSplit, error) {
	var v struct {
		SizeSplit sizeSplit `json:"size_split"`
	}
	err := b.inspectJSON(ctx, bundle, &v)
	return v.SizeSplit, err
}

func (b *bench) bundleModules(ctx context.Context, bundle string) ([]bundleModule, error) {
	var v struct {
		Modules []bundleModule `json:"modules"`
	}
	err := b.inspectJSON(ctx, bundle, &v)
	return v.Modules, err
}

// firstProxyURL is the first mirror URL of a GOPROXY list.
func firstProxyURL(list string) (string, error) {
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == '|' }) {
		if f = strings.TrimSpace(f); strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
			return strings.TrimSuffix(f, "/"), nil
		}
	}
	return "", fmt.Errorf("GOPROXY %q names no mirror URL", list)
}
