// Command bench measures gobundle against the stock ways of carrying Go
// module dependencies, side by side in one run on the same inputs, and
// proves the acceptance checks that need real, large inputs. It is run by
// `make bench` (never by `make test`):
//
//	go run ./internal/bench [-stages prepare,size,verify,determinism,inspect,limit,create,create10k,serve,sumdb,incremental,sign,toolchain,carry,latency,levels,memory,serve20,toolchainserve] [-quick] [-keep]
//
// # Inputs
//
// Everything is downloaded and cached under .bench/ at the repository root
// and re-used on later runs:
//
//   - project: the module cache download tree (<modcache>/cache/download)
//     of one real, large open-source Go project, filled by `go mod download
//     all` through the mirror chain of `go env GOPROXY`. The project is the
//     first of a short list of candidates whose exact version downloads and
//     whose go.mod `go` line the local toolchain accepts.
//   - multi: the project tree plus five consecutive versions each of the five
//     heaviest modules of its dependencies (four older versions added).
//   - big: a synthetic tree of deterministic, incompressible module zips,
//     generated locally, whose bundle is over 1 GB (for inspect and random
//     read figures).
//
// # Stages
//
// Each stage is one entry of [allStages]; stages that need a tree prepare
// it on first use through (*bench).tree:
//
//   - size: stock tar | zstd -19 --long=27 against gobundle pack, per tree:
//     size, time, CPU, peak RSS (issue 2).
//   - verify, determinism, inspect: verify/unpack/offline download, packing
//     twice, inspect time and single-read memory on a bundle over 1 GB.
//   - limit (opt-in): zstd -19 of the unique zip contents, the reference.
//   - create: gobundle create cold and warm beside go mod download all cold
//     on the project (issue 4); create10k: peak RSS of create on 10,000
//     generated module versions from the test kit's fake upstream.
//   - serve: gobundle serve against nginx on the unpacked tree: go mod
//     download all with a cold client, wrk on a .mod; startup and RSS on
//     10,000 module versions (issue 5).
//   - sumdb: lookups, tiles and their bytes beside the bundle size (issue 6).
//   - incremental: the project, then five of its direct dependencies bumped
//     to newer versions, bundled as create --base on the first and as a
//     fresh full bundle: size (target ≤ 0.10×) and both creates' times
//     (issue 16).
//   - sign: bytes per signature, and verify --key beside verify on the
//     bundle over 1 GB (issue 17).
//   - toolchain: real Go toolchains from the mirror, one release for one
//     and three platforms and two patch releases, beside the mirror's zip
//     sizes; serve's peak RSS while 8 clients download one zip (issue 18).
//   - carry: create cold at its defaults against the stock carry workflow
//     (go mod download all, then tar | zstd -19 --long=27 -T0 of the
//     cache), interleaved: wall, CPU, peak RSS, size, create's size split,
//     and its module content beside tar | zstd of the same files (issue 15).
//   - latency: create cold against go mod download all cold through a
//     latency mirror (internal/testkit/latencymirror) serving the
//     project's real files, recorded once, at 0 and 50 ms per request.
//   - levels: create cold at each --level (the README's table).
//   - memory: peak RSS of a cold create of several large projects at once.
//   - serve20: serve of twenty bundles of real projects in one directory
//     while eight clients run go mod download all of eight of them at
//     once: peak RSS against --memory + 256 MiB (issue 20).
//
// b.execute measures every child (wall, CPU, true peak RSS through GNU
// time) and b.rep.add records a figure beside its stock counterpart.
//
// # Output
//
// A table on standard output, and .bench/report.md and .bench/report.json
// with every figure beside its stock counterpart, the ratio, the target and
// the command that reproduces it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config is everything the bench takes from flags and the environment.
type config struct {
	root    string // repository root
	dir     string // work directory, .bench under root
	bin     string // the gobundle binary
	stages  []string
	quick   bool
	keep    bool
	repeat  int    // repetitions of expensive timed pairs
	cheap   int    // repetitions of cheap measurements
	project string // module@version overriding the candidate list
	trees   []string
	report  string // report files are this path plus .md and .json
	bigSize int64  // target raw size of the synthetic big tree
	path    string // PATH for child processes
	home    string // HOME for child processes
}

// stage is one named part of the bench.
type stage struct {
	name string
	desc string
	run  func(b *bench, ctx context.Context) error
	// inDefault reports whether the stage runs when -stages is not given.
	inDefault bool
}

// allStages lists every stage in the order they run.
func allStages() []stage {
	return []stage{
		{"prepare", "download and cache the input trees", (*bench).stagePrepare, true},
		{"size", "stock tar|zstd -19 vs gobundle pack: size, time, peak RSS", (*bench).stageSize, true},
		{"verify", "verify, unpack, compare with the source tree, offline go mod download all", (*bench).stageVerify, true},
		{"determinism", "pack the same tree twice, compare sha256", (*bench).stageDeterminism, true},
		{"inspect", "inspect time and memory and one-entry read RSS on a bundle over 1 GB", (*bench).stageInspect, true},
		{"limit", "reference: tar of the unique zip contents at zstd -19 --long=27 (slow)", (*bench).stageLimit, false},
		{"create", "gobundle create cold and warm vs go mod download all cold, same mirror, interleaved", (*bench).stageCreate, true},
		{"create10k", "gobundle create of 10,000 generated module versions from the fake upstream: peak RSS, time", (*bench).stageCreate10k, true},
		{"serve", "gobundle serve vs nginx on the unpacked tree: go mod download all, wrk; startup and RSS on 10,000 versions", (*bench).stageServe, true},
		{"sumdb", "checksum database lookups, tiles and bytes in the project's created bundle", (*bench).stageSumDB, true},
		{"incremental", "the project, then five of its dependencies bumped: create --base vs a fresh full bundle, size and time", (*bench).stageIncremental, true},
		{"sign", "bytes per signature, gobundle sign, verify --key vs verify on the bundle over 1 GB", (*bench).stageSign, true},
		{"toolchain", "real Go toolchains: bundle size for 1 and 3 platforms and 2 patch releases vs the mirror's zips; serve RSS with 8 clients of one zip", (*bench).stageToolchain, true},
		{"carry", "create cold at defaults vs the stock carry workflow (go mod download all, tar|zstd -19 --long=27 -T0): wall, CPU, peak RSS, size and its split", (*bench).stageCarry, true},
		{"latency", "create cold vs go mod download all cold through a loopback mirror of the project's real files, 0 and 50 ms per request", (*bench).stageLatency, true},
		{"levels", "create cold at each --level: wall, CPU, peak RSS, bundle size and module content (README's table)", (*bench).stageLevels, true},
		{"memory", "peak RSS of a cold create of the union of several large projects (over 500 MB of bundle)", (*bench).stageMemory, true},
		{"toolchainserve", "serve's peak RSS while 8 clients download one real toolchain zip at once, at serve's defaults and --memory 64MiB (the serving half of toolchain)", (*bench).stageToolchainServe, false},
		{"serve20", "serve of 20 bundles of real projects in one directory while 8 clients run go mod download all at once: peak RSS vs --memory + 256 MiB, at the default and 128 MiB", (*bench).stageServe20, true},
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == readEntryCmd {
		os.Exit(readEntryMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names []string
	for _, s := range allStages() {
		names = append(names, s.name)
	}
	stagesFlag := fs.String("stages", "", "comma-separated stages to run, or \"all\" (default: the default stages); known: "+strings.Join(names, ","))
	quick := fs.Bool("quick", false, "smoke test: a small project only, no multi tree, a small synthetic tree")
	keep := fs.Bool("keep", false, "keep bundles, stock archives and unpacked trees of this run under .bench/out")
	repeat := fs.Int("repeat", 1, "run each expensive timed pair (stock, gobundle) this many times, interleaved; medians are reported")
	cheap := fs.Int("cheap", 5, "repetitions of cheap measurements (inspect)")
	bin := fs.String("bin", "bin/gobundle", "gobundle binary")
	dir := fs.String("dir", ".bench", "work directory for downloads and outputs")
	project := fs.String("project", "", "module@version of the project to use instead of the built-in candidates")
	bigMB := fs.Int64("big-mb", 1200, "raw size in MiB of the synthetic tree for the inspect stage")
	treesFlag := fs.String("trees", "project,multi", "real trees to measure (project, multi); -quick uses project only")
	reportFlag := fs.String("report", "", "write the report to this path plus .md and .json (default: DIR/report)")
	list := fs.Bool("list", false, "list the stages and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *list {
		for _, s := range allStages() {
			def := ""
			if s.inDefault {
				def = " (default)"
			}
			fmt.Fprintf(stdout, "%-12s %s%s\n", s.name, s.desc, def)
		}
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	root, err := findRoot()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	cfg := config{
		root:    root,
		dir:     absUnder(root, *dir),
		bin:     absUnder(root, *bin),
		quick:   *quick,
		keep:    *keep,
		repeat:  max(*repeat, 1),
		cheap:   max(*cheap, 1),
		project: *project,
		bigSize: *bigMB << 20,
		trees:   strings.Split(*treesFlag, ","),
		path:    getenv("PATH"),
		home:    getenv("HOME"),
	}
	cfg.report = filepath.Join(cfg.dir, "report")
	if *reportFlag != "" {
		cfg.report = absUnder(root, *reportFlag)
	}
	if cfg.quick && *bigMB == 1200 {
		cfg.bigSize = 48 << 20
	}
	cfg.stages, err = pickStages(*stagesFlag)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	b, err := newBench(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	failed := false
	for _, s := range allStages() {
		if !contains(cfg.stages, s.name) {
			continue
		}
		start := time.Now()
		log.Info("stage", "name", s.name, "what", s.desc)
		if err := s.run(b, ctx); err != nil {
			log.Error("stage failed", "name", s.name, "err", err)
			b.rep.addCheck(s.name, "stage ran", false, err.Error(), "")
			failed = true
			if ctx.Err() != nil {
				break
			}
		}
		log.Info("stage done", "name", s.name, "took", time.Since(start).Round(time.Second))
	}
	b.rep.finish()
	b.rep.writeText(stdout)
	if err := b.rep.writeFiles(cfg.report); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nreport: %s.md, %s.json\n", cfg.report, cfg.report)
	if failed || b.rep.anyFail() {
		return 1
	}
	return 0
}

// pickStages parses the -stages flag.
func pickStages(s string) ([]string, error) {
	var out []string
	switch s {
	case "":
		for _, st := range allStages() {
			if st.inDefault {
				out = append(out, st.name)
			}
		}
		return out, nil
	case "all":
		for _, st := range allStages() {
			out = append(out, st.name)
		}
		return out, nil
	}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for _, st := range allStages() {
			if st.name == name {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown stage %q (see -list)", name)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no stage in -stages %q", s)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// findRoot returns the directory holding go.mod, from the working directory up.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func absUnder(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}
