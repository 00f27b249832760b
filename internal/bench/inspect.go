package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/fsutil"
	"os"
	"path/filepath"
	"strings"
)

// stageDeterminism packs each tree a second time and compares the sha256
// of the two bundles.
func (b *bench) stageDeterminism(ctx context.Context) error {
	for _, name := range b.treeNames() {
		t, err := b.tree(ctx, name)
		if err != nil {
			return err
		}
		first, err := b.bundleFor(ctx, name)
		if err != nil {
			return err
		}
		second := b.outPath(name + "-again.gobundle")
		b.log.Info("gobundle pack (second time)", "tree", name)
		if _, err := b.runPack(ctx, t.Dir, second); err != nil {
			return err
		}
		s1, err := fsutil.FileSHA256(first)
		if err != nil {
			return err
		}
		s2, err := fsutil.FileSHA256(second)
		if err != nil {
			return err
		}
		b.discard(second)
		detail := "sha256 " + s1
		if s1 != s2 {
			detail = fmt.Sprintf("first %s, second %s", s1, s2)
		}
		cmd := fmt.Sprintf("%s pack %s -o a.gobundle && %s pack %s -o b.gobundle && sha256sum a.gobundle b.gobundle",
			b.binRel(), b.rel(t.Dir), b.binRel(), b.rel(t.Dir))
		b.rep.addCheck("determinism", name+": packing the same tree twice gives the same sha256", s1 == s2, detail, cmd)
	}
	return nil
}

// bigBundleMin is the size the inspect stage's bundle must exceed.
const bigBundleMin = 1e9

// inspectTarget is the limit of inspect's wall time on the big bundle.
const inspectTarget = 0.5

// stageInspect times inspect on a bundle over 1 GB and measures the peak
// RSS of opening it and reading one entry.
func (b *bench) stageInspect(ctx context.Context) error {
	t, big, err := b.bigTreeBundle(ctx)
	if err != nil {
		return err
	}
	size := fileSize(big)
	over := float64(size) > bigBundleMin
	sizeDetail := fmt.Sprintf("%s (%d module versions)", formatBytes(float64(size)), t.Stats.Zips)
	if b.cfg.quick {
		b.rep.addNote("-quick: the synthetic bundle is %s, not over 1 GB", sizeDetail)
	} else {
		b.rep.addCheck("inspect", "synthetic bundle is over 1 GB", over, sizeDetail, "")
	}
	shown := filepath.Base(big)

	inspected := []struct{ name, file string }{{"big", big}}
	for _, name := range b.treeNames() {
		if p, ok := b.packed[name]; ok {
			inspected = append(inspected, struct{ name, file string }{name, p})
		}
	}
	for _, in := range inspected {
		for _, asJSON := range []bool{false, true} {
			args := []string{b.cfg.bin, "inspect", in.file}
			measure := "inspect (wall)"
			if asJSON {
				args = append(args, "--json")
				measure = "inspect --json (wall)"
			}
			walls, rss, err := b.repeatRun(ctx, args)
			if err != nil {
				b.rep.addCheck("inspect", in.name+": "+strings.Join(args[1:2], " ")+" runs", false, errDetail(err), "")
				return err
			}
			f := figure{Tree: in.name, Measure: measure, Unit: unitSeconds, Value: walls, Runs: b.cfg.cheap,
				Command: shellQuote(append([]string{b.binRel(), "inspect", filepath.Base(in.file)}, args[3:]...)),
				Note:    fmt.Sprintf("bundle %s", formatBytes(float64(fileSize(in.file))))}
			if in.name == "big" {
				f.TargetMax = b.target(inspectTarget)
			}
			b.rep.add(f)
			b.rep.add(figure{Tree: in.name, Measure: strings.Replace(measure, "(wall)", "peak RSS", 1), Unit: unitBytes, Value: rss, Runs: b.cfg.cheap, Command: f.Command})
		}
	}

	// One entry, read through the bundle package in a child process.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	for _, kind := range []string{"mod", "zip"} {
		mv := "gobundle.bench/synthetic/large" + fmt.Sprintf("%03d", max(0, bigSpec(b.cfg.bigSize, b.cfg.quick).Large/2)) + "@v1.0.0"
		args := []string{exe, readEntryCmd, big, mv, kind}
		var rsss, walls []float64
		var res readEntryResult
		for i := 0; i < b.cfg.cheap; i++ {
			out := &strings.Builder{}
			m, err := b.execute(ctx, proc{args: args, stdout: out})
			if err != nil {
				b.rep.addCheck("inspect", "read one "+kind+" entry", false, errDetail(err), "")
				return err
			}
			if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
				return fmt.Errorf("read-entry output: %w", err)
			}
			rsss = append(rsss, float64(m.MaxRSS))
			walls = append(walls, m.Wall.Seconds())
		}
		cmd := fmt.Sprintf("go run ./internal/bench %s %s %s %s", readEntryCmd, shown, mv, kind)
		rss := median(rsss)
		b.rep.add(figure{Tree: "big", Measure: fmt.Sprintf("open + read one .%s (%s) peak RSS", kind, formatBytes(float64(res.Bytes))), Unit: unitBytes,
			Value: rss, Runs: b.cfg.cheap, Command: cmd})
		b.rep.add(figure{Tree: "big", Measure: fmt.Sprintf("open + read one .%s (wall)", kind), Unit: unitSeconds,
			Value: median(walls), Runs: b.cfg.cheap, Command: cmd})
		// "Does not load the bundle into memory": a read decompresses only
		// the frames holding the entry, so the peak stays below the entry,
		// two frames and a fixed overhead, far from the bundle's size.
		frac := rss / float64(size)
		bound := float64(res.Bytes) + 2*float64(bundle.DefaultFrameSize) + 64<<20
		detail := fmt.Sprintf("peak RSS %s = %.1f%% of the %s bundle (bound: entry + 2 frames + 64 MiB = %s)",
			formatBytes(rss), 100*frac, formatBytes(float64(size)), formatBytes(bound))
		if b.cfg.quick {
			b.rep.addNote("read one .%s: %s (-quick: the bundle is too small for the check)", kind, detail)
			continue
		}
		b.rep.addCheck("inspect", fmt.Sprintf("reading one .%s does not load the bundle into memory", kind), rss < bound && frac < 0.25, detail, cmd)
	}
	return nil
}

// repeatRun runs args cfg.cheap times and returns the median wall seconds
// and median peak RSS.
func (b *bench) repeatRun(ctx context.Context, args []string) (wall, rss float64, err error) {
	var ws, rs []float64
	for i := 0; i < b.cfg.cheap; i++ {
		m, err := b.execute(ctx, proc{args: args})
		if err != nil {
			return 0, 0, err
		}
		ws = append(ws, m.Wall.Seconds())
		rs = append(rs, float64(m.MaxRSS))
	}
	return median(ws), median(rs), nil
}

// bigTreeBundle returns the synthetic tree and its bundle over 1 GB,
// making either on first use.
func (b *bench) bigTreeBundle(ctx context.Context) (*tree, string, error) {
	if err := b.needBin(); err != nil {
		return nil, "", err
	}
	t, err := b.tree(ctx, "big")
	if err != nil {
		return nil, "", err
	}
	big, err := b.bigBundle(ctx, t)
	return t, big, err
}

// bigBundle packs the synthetic tree once per gobundle binary and keeps
// the bundle across runs.
func (b *bench) bigBundle(ctx context.Context, t *tree) (string, error) {
	sum, err := fsutil.FileSHA256(b.cfg.bin)
	if err != nil {
		return "", err
	}
	base := filepath.Dir(t.Dir)
	name := filepath.Join(base, "big-"+sum[:12]+".gobundle")
	if _, err := os.Stat(name); err == nil {
		b.log.Info("re-using big bundle", "file", b.rel(name))
		b.rep.addNote("big bundle re-used from an earlier run with the same gobundle binary: %s", b.rel(name))
		return name, nil
	}
	old, _ := filepath.Glob(filepath.Join(base, "big-*.gobundle"))
	for _, o := range old {
		_ = os.Remove(o)
	}
	b.log.Info("gobundle pack of the synthetic tree", "tree", b.rel(t.Dir))
	r, err := b.runPack(ctx, t.Dir, name)
	if err != nil {
		return "", err
	}
	b.rep.add(figure{Tree: "big", Measure: "pack time (wall)", Unit: unitSeconds, Value: r.m.Wall.Seconds(), Runs: 1,
		Command: shellQuote(b.relArgs(b.packArgs(t.Dir, filepath.Base(name))))})
	b.rep.add(figure{Tree: "big", Measure: "pack peak RSS", Unit: unitBytes, Value: float64(r.m.MaxRSS), Runs: 1,
		Command: shellQuote(b.relArgs(b.packArgs(t.Dir, filepath.Base(name))))})
	b.rep.add(figure{Tree: "big", Measure: "bundle size", Unit: unitBytes, Value: float64(r.size), Runs: 1})
	return name, nil
}
