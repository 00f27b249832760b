package main

import (
	"context"
	"fmt"
	"path/filepath"
)

// createLevels are create's --level values, for the README's table.
var createLevels = []string{"fastest", "default", "better", "best"}

// stageLevels runs a cold create of the project at each --level, in turn,
// through the mirror chain of `go env`: wall, CPU, peak RSS, bundle size
// and module content, the figures of the README's table of levels.
func (b *bench) stageLevels(ctx context.Context) error {
	t, work, src, err := b.projectWork(ctx, "levels")
	if err != nil {
		return err
	}
	if err := b.addCPUReference(ctx, t); err != nil {
		return err
	}
	proxy, sumdb := b.goenv.GOPROXY, b.goenv.GOSUMDB
	var base float64
	for _, lv := range createLevels {
		bundle := filepath.Join(work, lv+".gobundle")
		env := b.goEnv(filepath.Join(work, "gomodcache"), proxy, sumdb, "-mod=mod")
		b.log.Info("levels: gobundle create (cold)", "level", lv)
		m, _, err := b.runCreate(ctx, env, src, bundle, filepath.Join(work, "cache-"+lv), "--level", lv)
		if err != nil {
			return err
		}
		split, err := b.inspectSplit(ctx, bundle)
		if err != nil {
			return err
		}
		if lv == "better" {
			base = float64(split.Modules)
		}
		cmd := fmt.Sprintf("GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=%s GOSUMDB=%s %s create %s -o %s.gobundle --cache $(mktemp -d) --level %s && %s inspect %s.gobundle",
			shellQuote([]string{proxy}), shellQuote([]string{sumdb}), b.binRel(), b.rel(t.ProjectDir), lv, lv, b.binRel(), lv)
		b.rep.add(figure{Tree: "project", Measure: "levels: create --level " + lv + " cold (wall)", Unit: unitSeconds, Value: m.Wall.Seconds(), Runs: 1, Command: cmd})
		b.rep.add(figure{Tree: "project", Measure: "levels: create --level " + lv + " cold CPU (user+sys)", Unit: unitSeconds, Value: m.CPU.Seconds(), Runs: 1, Command: cmd})
		b.rep.add(figure{Tree: "project", Measure: "levels: create --level " + lv + " cold peak RSS", Unit: unitBytes, Value: float64(m.MaxRSS), Runs: 1, Command: cmd})
		b.rep.add(figure{Tree: "project", Measure: "levels: create --level " + lv + " bundle size", Unit: unitBytes, Value: float64(fileSize(bundle)), Runs: 1, Command: cmd})
		b.rep.add(figure{Tree: "project", Measure: "levels: create --level " + lv + " module content", Unit: unitBytes, Value: float64(split.Modules), Runs: 1, Command: cmd})
		if err := moveToTrash(work, filepath.Join(work, "cache-"+lv)); err != nil {
			return err
		}
	}
	b.rep.addNote("levels: module content of --level better (the default) is %.1f MB", base/1e6)
	return emptyTrash(work)
}
