package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/latencymirror"
)

// latencyDelays are the per-request delays of the latency stage: this
// machine's loopback, and a mirror 50 ms away.
var latencyDelays = []time.Duration{0, 50 * time.Millisecond}

// recordedTree returns the project's real files as the mirror serves
// them, everything a cold create and a cold `go mod download all` ask
// for (checksum database included), recorded once through a latency
// mirror in front of the first mirror of `go env GOPROXY` and kept under
// .bench/latency.
func (b *bench) recordedTree(ctx context.Context) (string, error) {
	t, err := b.tree(ctx, "project")
	if err != nil {
		return "", err
	}
	base := b.treeBase("latency")
	dir := filepath.Join(base, "tree")
	marker := filepath.Join(base, "recorded.txt")
	if data, err := os.ReadFile(marker); err == nil && string(data) == t.Key {
		return dir, nil
	}
	if err := removeAll(base); err != nil {
		return "", err
	}
	up, err := firstProxyURL(b.goenv.GOPROXY)
	if err != nil {
		return "", err
	}
	m, err := latencymirror.Start(latencymirror.Config{Dir: dir, Upstream: up})
	if err != nil {
		return "", err
	}
	defer m.Close()
	work := filepath.Join(b.tmpDir(), "record")
	src := filepath.Join(work, "src")
	if err := copyTree(t.ProjectDir, src); err != nil {
		return "", err
	}
	b.log.Info("latency: recording the project's files through a mirror on loopback", "dir", b.rel(dir))
	env := b.goEnv(filepath.Join(work, "gomodcache"), m.URL, b.goenv.GOSUMDB, "-mod=mod")
	if _, err := b.execute(ctx, proc{dir: src, env: env, args: []string{"go", "mod", "download", "all"}}); err != nil {
		return "", err
	}
	if _, _, err := b.runCreate(ctx, env, src, filepath.Join(work, "p.gobundle"), filepath.Join(work, "cache")); err != nil {
		return "", err
	}
	b.log.Info("latency: recorded", "requests", m.Requests.Load(), "fetched", m.Fetches.Load())
	if err := removeAll(work); err != nil {
		return "", err
	}
	return dir, writeFileAtomic(marker, []byte(t.Key))
}

// stageLatency times a cold create against a cold `go mod download all`,
// interleaved, both through a mirror on loopback that answers the
// project's recorded files after a fixed delay per request.
func (b *bench) stageLatency(ctx context.Context) error {
	rec, err := b.recordedTree(ctx)
	if err != nil {
		return err
	}
	up, err := firstProxyURL(b.goenv.GOPROXY)
	if err != nil {
		return err
	}
	t, work, src, err := b.projectWork(ctx, "latency")
	if err != nil {
		return err
	}
	if err := b.addCPUReference(ctx, t); err != nil {
		return err
	}
	for _, d := range latencyDelays {
		if err := b.latencyRuns(ctx, work, src, rec, up, d); err != nil {
			return err
		}
	}
	return emptyTrash(work)
}

// latencyRuns is the latency stage at one delay.
func (b *bench) latencyRuns(ctx context.Context, work, src, rec, up string, delay time.Duration) error {
	// The upstream stays behind the mirror for what the recording lacks;
	// the note counts such fetches (none is expected).
	m, err := latencymirror.Start(latencymirror.Config{Dir: rec, Upstream: up, Delay: delay})
	if err != nil {
		return err
	}
	defer m.Close()
	var dl, cold []measurement
	// What each asked of the mirror in its last run: requests by kind,
	// their peak in flight and the sequential round trips.
	var dlStats, createStats latencymirror.Stats
	for i := 0; i < b.timedRuns(); i++ {
		env := b.goEnv(filepath.Join(work, fmt.Sprintf("gomodcache-%d", i)), m.URL, b.goenv.GOSUMDB, "-mod=mod")
		b.log.Info("latency: go mod download all (cold)", "delay", delay, "run", i+1, "of", b.timedRuns())
		m.Reset()
		md, err := b.execute(ctx, proc{dir: src, env: env, args: []string{"go", "mod", "download", "all"}})
		if err != nil {
			return err
		}
		dlStats = m.Stats()
		dl = append(dl, md)
		b.log.Info("latency: gobundle create (cold)", "delay", delay, "run", i+1)
		env = b.goEnv(filepath.Join(work, "create-gomodcache"), m.URL, b.goenv.GOSUMDB, "-mod=mod")
		cache := filepath.Join(work, fmt.Sprintf("cache-%d", i))
		m.Reset()
		mc, _, err := b.runCreate(ctx, env, src, filepath.Join(work, "p.gobundle"), cache)
		if err != nil {
			return err
		}
		createStats = m.Stats()
		cold = append(cold, mc)
		b.log.Info("latency: done", "delay", delay, "go", md.Wall.Round(time.Millisecond), "create", mc.Wall.Round(time.Millisecond),
			"go_requests", dlStats.String(), "create_requests", createStats.String())
		for _, d := range []string{filepath.Join(work, fmt.Sprintf("gomodcache-%d", i)), cache, filepath.Join(work, "create-gomodcache")} {
			if err := moveToTrash(work, d); err != nil {
				return err
			}
		}
	}
	ms := delay.Milliseconds()
	mirror := fmt.Sprintf("GOPROXY=<latency mirror, %d ms, over .bench/latency/tree>", ms)
	dlCmd := fmt.Sprintf("cd %s && GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local %s GOSUMDB=%s GOMODCACHE=$(mktemp -d) go mod download all",
		b.rel(src), mirror, shellQuote([]string{b.goenv.GOSUMDB}))
	createCmd := fmt.Sprintf("GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local %s GOSUMDB=%s %s create %s -o p.gobundle --cache $(mktemp -d)",
		mirror, shellQuote([]string{b.goenv.GOSUMDB}), b.binRel(), b.rel(src))
	f := figure{Tree: "project", Measure: fmt.Sprintf("latency %d ms: create cold vs go mod download all cold (wall)", ms), Unit: unitSeconds,
		Value: medianWall(cold), Stock: medianWall(dl), HasStock: true, Runs: len(cold),
		Note: fmt.Sprintf("interleaved; the mirror answered %d requests, %d of them fetched upstream (not in the recording); last create: %s; last go mod download all: %s",
			m.Requests.Load(), m.Fetches.Load(), createStats, dlStats),
		Command: createCmd, StockCommand: dlCmd}
	if delay >= 50*time.Millisecond {
		f.TargetMax, f.TargetRatio = 0.5, true
	}
	b.rep.add(f)
	if f.TargetMax > 0 {
		b.rep.add(cpuFloorFigure(fmt.Sprintf("latency %d ms", ms), cold, medianWall(dl), f.TargetMax, runtime.NumCPU(), createCmd, dlCmd))
	}
	b.rep.add(figure{Tree: "project", Measure: fmt.Sprintf("latency %d ms: create cold CPU (user+sys; stock: go mod download all)", ms), Unit: unitSeconds,
		Value: medianCPU(cold), Stock: medianCPU(dl), HasStock: true, Runs: len(cold), Command: createCmd, StockCommand: dlCmd})
	b.rep.add(figure{Tree: "project", Measure: fmt.Sprintf("latency %d ms: create cold peak RSS (stock: go mod download all)", ms), Unit: unitBytes,
		Value: medianRSS(cold), Stock: medianRSS(dl), HasStock: true, TargetMax: memoryTarget, Runs: len(cold), Command: createCmd, StockCommand: dlCmd})
	return nil
}
