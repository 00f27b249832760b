package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// sizeTargets are the acceptance limits of bundle size / stock size.
func sizeTarget(treeName string) float64 {
	switch treeName {
	case "project":
		return 0.70
	case "multi":
		return 0.55
	}
	return 0
}

// packTimeTarget is the limit of pack time / stock time.
const packTimeTarget = 2.0

// stockArgs is the stock way: the tree as a tar, through zstd -19 with a
// 128 MiB window on one thread.
func stockArgs(dir, out string) []string {
	return []string{"bash", "-c", "set -o pipefail; tar -C " + shellQuote([]string{dir}) +
		" -cf - . | zstd -19 --long=27 -T1 -q -c > " + shellQuote([]string{out})}
}

// stockCommand is stockArgs as a person types it.
func stockCommand(dir, out string) string {
	return "tar -C " + shellQuote([]string{dir}) + " -cf - . | zstd -19 --long=27 -T1 > " + shellQuote([]string{out})
}

// packArgs packs dir into out with gobundle.
func (b *bench) packArgs(dir, out string) []string {
	return []string{b.cfg.bin, "--quiet", "pack", dir, "-o", out}
}

// timedRun is one measured run of a command producing a file.
type timedRun struct {
	m    measurement
	size int64
}

func (b *bench) runStock(ctx context.Context, dir, out string) (timedRun, error) {
	m, err := b.execute(ctx, proc{args: stockArgs(dir, out)})
	if err != nil {
		return timedRun{}, fmt.Errorf("stock tar|zstd of %s: %w", dir, err)
	}
	return timedRun{m: m, size: fileSize(out)}, nil
}

func (b *bench) runPack(ctx context.Context, dir, out string) (timedRun, error) {
	m, err := b.execute(ctx, proc{args: b.packArgs(dir, out)})
	if err != nil {
		return timedRun{}, err
	}
	return timedRun{m: m, size: fileSize(out)}, nil
}

// stageSize measures, for each tree, the stock archive and the bundle side
// by side; with -repeat N the pairs alternate N times so that load from
// other work on the machine hits both alike.
func (b *bench) stageSize(ctx context.Context) error {
	if err := b.needBin(); err != nil {
		return err
	}
	for _, name := range b.treeNames() {
		t, err := b.tree(ctx, name)
		if err != nil {
			return err
		}
		stockOut := b.outPath("stock-" + name + ".tar.zst")
		bundleOut := b.outPath(name + ".gobundle")
		var stock, pack []timedRun
		for i := 0; i < b.cfg.repeat; i++ {
			b.log.Info("stock tar|zstd -19 --long=27 -T1", "tree", name, "run", i+1)
			s, err := b.runStock(ctx, t.Dir, stockOut)
			if err != nil {
				return err
			}
			stock = append(stock, s)
			b.log.Info("stock done", "tree", name, "size", formatBytes(float64(s.size)), "wall", s.m.Wall.Round(time.Millisecond))
			b.log.Info("gobundle pack", "tree", name, "run", i+1)
			p, err := b.runPack(ctx, t.Dir, bundleOut)
			if err != nil {
				b.rep.addCheck("size", name+": gobundle pack", false, err.Error(), shellQuote(b.relArgs(b.packArgs(t.Dir, bundleOut))))
				return err
			}
			pack = append(pack, p)
			b.log.Info("pack done", "tree", name, "size", formatBytes(float64(p.size)), "wall", p.m.Wall.Round(time.Millisecond))
		}
		b.packed[name] = bundleOut
		b.discard(stockOut)
		if err := b.saveStockSize(name, t, stock[0].size); err != nil {
			return err
		}
		b.addPairFigures(name, stock, pack,
			stockCommand(b.rel(t.Dir), "stock-"+name+".tar.zst"),
			shellQuote(b.relArgs(b.packArgs(t.Dir, name+".gobundle"))))
	}
	return nil
}

// addPairFigures reports size, wall time, CPU time and peak RSS of the
// stock runs against the gobundle runs.
func (b *bench) addPairFigures(name string, stock, pack []timedRun, stockCmd, packCmd string) {
	n := len(pack)
	sizes := func(rs []timedRun) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = float64(r.size)
		}
		return median(xs)
	}
	get := func(rs []timedRun, f func(measurement) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r.m)
		}
		return median(xs)
	}
	wall := func(m measurement) float64 { return m.Wall.Seconds() }
	cpu := func(m measurement) float64 { return m.CPU.Seconds() }
	rss := func(m measurement) float64 { return float64(m.MaxRSS) }
	b.rep.add(figure{Tree: name, Measure: "size", Unit: unitBytes,
		Value: sizes(pack), Stock: sizes(stock), HasStock: true,
		TargetMax: b.target(sizeTarget(name)), TargetRatio: true, Runs: n,
		Command: packCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: name, Measure: "pack time (wall)", Unit: unitSeconds,
		Value: get(pack, wall), Stock: get(stock, wall), HasStock: true,
		TargetMax: b.target(packTimeTarget), TargetRatio: true, Runs: n,
		Command: packCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: name, Measure: "pack CPU (user+sys)", Unit: unitSeconds,
		Value: get(pack, cpu), Stock: get(stock, cpu), HasStock: true, Runs: n,
		Note: "stock is single-threaded (-T1); gobundle may use every core", Command: packCmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: name, Measure: "pack peak RSS", Unit: unitBytes,
		Value: get(pack, rss), Stock: get(stock, rss), HasStock: true, Runs: n,
		Command: packCmd, StockCommand: stockCmd})
}

// target returns the acceptance limit x, or none in -quick mode, whose
// small inputs are not what the targets are about.
func (b *bench) target(x float64) float64 {
	if b.cfg.quick {
		return 0
	}
	return x
}

// relArgs shortens absolute paths under the repository root for display.
func (b *bench) relArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = b.rel(a)
	}
	return out
}

// stockSizeRecord remembers the stock archive size of a tree, which only
// depends on the tree and the zstd version, for stages that need the size
// but not a fresh timing.
type stockSizeRecord struct {
	Key  string `json:"key"`
	Zstd string `json:"zstd"`
	Size int64  `json:"size"`
}

func (b *bench) stockSizeFile(name string) string {
	return filepath.Join(b.treeBase(name), "stock-size.json")
}

func (b *bench) saveStockSize(name string, t *tree, size int64) error {
	data, err := json.Marshal(stockSizeRecord{Key: t.Key, Zstd: b.zstd, Size: size})
	if err != nil {
		return err
	}
	return writeFileAtomic(b.stockSizeFile(name), data)
}

// cachedStockSize returns the stock size measured by an earlier run on the
// same tree with the same zstd, or 0.
func (b *bench) cachedStockSize(name string, t *tree) int64 {
	data, err := os.ReadFile(b.stockSizeFile(name))
	if err != nil {
		return 0
	}
	var r stockSizeRecord
	if json.Unmarshal(data, &r) != nil || r.Key != t.Key || r.Zstd != b.zstd {
		return 0
	}
	return r.Size
}
