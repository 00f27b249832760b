package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// bumpCount is how many dependencies the incremental stage bumps.
const bumpCount = 5

// stageIncremental measures an update as a site takes it (issue 16): the
// project is bundled, then the same project with five of its direct
// dependencies bumped to newer versions is bundled twice, as an
// incremental bundle on the first (create --base) and as a fresh full
// bundle, each from a copy of the download cache the first create left.
// The figure is the delta's size against the full bundle's (target at
// most 0.10×), beside both creates' times; the delta must verify with its
// base and diff must list the bumped modules.
func (b *bench) stageIncremental(ctx context.Context) error {
	if err := b.needBin(); err != nil {
		return err
	}
	t, err := b.tree(ctx, "project")
	if err != nil {
		return err
	}
	work := b.outPath("incremental")
	if err := removeAll(work); err != nil {
		return err
	}
	v1, v2 := filepath.Join(work, "v1"), filepath.Join(work, "v2")
	for _, d := range []string{v1, v2} {
		if err := copyTree(t.ProjectDir, d); err != nil {
			return err
		}
	}
	proxy, sumdb := b.goenv.GOPROXY, b.goenv.GOSUMDB
	env := b.goEnv(filepath.Join(work, "gomodcache"), proxy, sumdb, "-mod=mod")
	bumped, err := b.bumpDeps(ctx, v2, env, bumpCount)
	if err != nil {
		return err
	}
	b.log.Info("bumped", "modules", strings.Join(bumped, " "))

	cache := filepath.Join(work, "cache")
	base := filepath.Join(work, "v1.gobundle")
	b.log.Info("gobundle create of the project (cold)")
	m1, s1, err := b.runCreate(ctx, env, v1, base, cache)
	if err != nil {
		return err
	}
	// Each create of the bumped project starts from the cache the first
	// left: what a CI host that made last week's bundle has.
	fullCache, deltaCache := filepath.Join(work, "cache-full"), filepath.Join(work, "cache-delta")
	for _, c := range []string{fullCache, deltaCache} {
		if _, err := b.execute(ctx, proc{args: []string{"cp", "-a", cache, c}}); err != nil {
			return err
		}
	}
	full, delta := filepath.Join(work, "v2-full.gobundle"), filepath.Join(work, "v2-delta.gobundle")
	b.log.Info("gobundle create of the bumped project, full")
	mf, sf, err := b.runCreate(ctx, env, v2, full, fullCache)
	if err != nil {
		return err
	}
	b.log.Info("gobundle create of the bumped project, --base the first")
	md, sd, err := b.runCreate(ctx, env, v2, delta, deltaCache, "--base", base)
	if err != nil {
		return err
	}
	if err := b.checkIncremental(ctx, base, delta, full, bumped); err != nil {
		return err
	}

	createCmd := fmt.Sprintf("GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=%s GOSUMDB=%s %s create",
		shellQuote([]string{proxy}), shellQuote([]string{sumdb}), b.binRel())
	deltaCmd := fmt.Sprintf("%s %s -o v2-delta.gobundle --base v1.gobundle --cache CACHE  # CACHE: a copy of the first create's", createCmd, b.rel(v2))
	fullCmd := fmt.Sprintf("%s %s -o v2-full.gobundle --cache CACHE  # CACHE: a copy of the first create's", createCmd, b.rel(v2))
	firstCmd := fmt.Sprintf("%s %s -o v1.gobundle --cache CACHE  # the project before the bump, CACHE empty", createCmd, b.rel(v1))
	note := fmt.Sprintf("%s with %d direct dependencies bumped (%s); %d module versions in the delta, %d in the full bundle",
		t.Project, len(bumped), strings.Join(bumped, ", "), sd.BundleModules, sf.ModuleVersions)
	b.rep.add(figure{Tree: "project", Measure: "incremental bundle (create --base) vs fresh full bundle of the bumped project (size)", Unit: unitBytes,
		Value: float64(sd.BundleSize), Stock: float64(sf.BundleSize), HasStock: true, TargetMax: 0.10, TargetRatio: true, Target: "≤ 0.10×", Runs: 1,
		Note: note, Command: deltaCmd, StockCommand: fullCmd})
	b.rep.add(figure{Tree: "project", Measure: "create --base vs create of the full bundle, bumped project (wall; each from a copy of the first create's cache)", Unit: unitSeconds,
		Value: md.Wall.Seconds(), Stock: mf.Wall.Seconds(), HasStock: true, Runs: 1, Command: deltaCmd, StockCommand: fullCmd})
	b.rep.add(figure{Tree: "project", Measure: "first bundle of the project, before the bump (size)", Unit: unitBytes,
		Value: float64(s1.BundleSize), Runs: 1, Command: firstCmd})
	b.rep.add(figure{Tree: "project", Measure: "create of the first bundle, cold (wall)", Unit: unitSeconds,
		Value: m1.Wall.Seconds(), Runs: 1, Command: firstCmd})
	return emptyTrash(work)
}

// goModule is the part of `go list -m -u -json` the bump reads.
type goModule struct {
	Path     string
	Version  string
	Main     bool
	Indirect bool
	Update   *struct{ Version string }
}

// bumpDeps upgrades up to n direct dependencies of the module in dir that
// have newer versions (in path order, skipping any whose upgrade the local
// go toolchain refuses), tidies it and returns "path@old→new" for each.
func (b *bench) bumpDeps(ctx context.Context, dir string, env []string, n int) ([]string, error) {
	var out bytes.Buffer
	if _, err := b.execute(ctx, proc{dir: dir, env: env, stdout: &out, args: []string{"go", "list", "-m", "-u", "-json", "all"}}); err != nil {
		return nil, err
	}
	var cands []goModule
	dec := json.NewDecoder(&out)
	for {
		var m goModule
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -m -u -json all: %w", err)
		}
		if !m.Main && !m.Indirect && m.Update != nil {
			cands = append(cands, m)
		}
	}
	slices.SortFunc(cands, func(a, b goModule) int { return strings.Compare(a.Path, b.Path) })
	var bumped []string
	for _, m := range cands {
		if len(bumped) == n {
			break
		}
		saved, err := saveFiles(dir, "go.mod", "go.sum")
		if err != nil {
			return nil, err
		}
		if _, err := b.execute(ctx, proc{dir: dir, env: env, args: []string{"go", "get", m.Path + "@" + m.Update.Version}}); err != nil {
			b.log.Warn("bump refused, trying the next dependency", "module", m.Path+"@"+m.Update.Version, "err", err)
			if err := saved.restore(); err != nil {
				return nil, err
			}
			continue
		}
		bumped = append(bumped, m.Path+"@"+m.Version+"→"+m.Update.Version)
	}
	if len(bumped) < n {
		return nil, fmt.Errorf("only %d of %d direct dependencies could be bumped: %v", len(bumped), n, bumped)
	}
	if _, err := b.execute(ctx, proc{dir: dir, env: env, args: []string{"go", "mod", "tidy"}}); err != nil {
		return nil, err
	}
	return bumped, nil
}

// savedFiles are files' contents, to put back.
type savedFiles map[string][]byte

func saveFiles(dir string, names ...string) (savedFiles, error) {
	s := savedFiles{}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		s[filepath.Join(dir, n)] = data
	}
	return s, nil
}

func (s savedFiles) restore() error {
	for name, data := range s {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// checkIncremental records the checks of the stage: the delta verifies
// with its base, serves what the full bundle serves (merged with its base,
// every file of the full bundle at the same bytes), and diff lists every
// bumped module.
func (b *bench) checkIncremental(ctx context.Context, base, delta, full string, bumped []string) error {
	start := time.Now()
	_, err := b.execute(ctx, proc{args: []string{b.cfg.bin, "verify", "-q", delta, "--base", base}})
	b.rep.addCheck("incremental", "the incremental bundle verifies with its base", err == nil, errDetail(err)+fmt.Sprintf(" (%s)", time.Since(start).Round(time.Millisecond)),
		b.binRel()+" verify v2-delta.gobundle --base v1.gobundle")
	var out bytes.Buffer
	_, err = b.execute(ctx, proc{stdout: &out, args: []string{b.cfg.bin, "diff", base, delta}})
	missing := []string{}
	for _, m := range bumped {
		path, _, _ := strings.Cut(m, "@")
		newV := m[strings.Index(m, "→")+len("→"):]
		if !strings.Contains(out.String(), "added  "+path+"@"+newV) && !strings.Contains(out.String(), path+"@"+newV+" ") {
			missing = append(missing, path+"@"+newV)
		}
	}
	b.rep.addCheck("incremental", "diff of the two bundles lists every bumped dependency as added", err == nil && len(missing) == 0,
		fmt.Sprintf("not listed: %v %s", missing, errDetail(err)), b.binRel()+" diff v1.gobundle v2-delta.gobundle")
	return nil
}
