package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/pipeline"
	"github.com/gobundle/gobundle/resolver"
	"github.com/klauspost/compress/zstd"
)

// CreateCmd is `gobundle create`.
type CreateCmd struct {
	Inputs     []string  `arg:"" optional:"" name:"input" help:"Directories (their go.work, else their go.mod; default .), go.mod or go.work files, or module@version (module@latest is resolved now, the choice shown in the summary)."`
	Output     string    `short:"o" placeholder:"FILE" help:"Bundle file to write (written to a temporary file, then renamed). Required unless --dry-run."`
	DryRun     bool      `name:"dry-run" help:"Resolve, fetch and verify everything a bundle would hold, then stop: no bundle is written (a check for CI, and a measure of what the resolver alone costs)."`
	From       []string  `placeholder:"FILE" help:"Read more inputs from FILE, one a line (# comments; relative paths from FILE's directory), such as what serve's GET /-/misses printed: module@version and module@latest lines; a listed module version no mirror has (a path prefix the go command probed) is left out with a warning (--strict fails). Example: curl -s http://bundlehost:8080/-/misses > misses.txt; gobundle create --from misses.txt -o next.gobundle."`
	Proxy      string    `placeholder:"LIST" help:"Mirror chain, GOPROXY syntax (, falls through on 404/410, | on any error; off; direct). Default: $GOPROXY, else go env GOPROXY."`
	SumDB      string    `name:"sumdb" placeholder:"VALUE" help:"Checksum database, GOSUMDB syntax (name, name+key [url], off). Default: $GOSUMDB, else go env GOSUMDB."`
	Jobs       int       `default:"128" placeholder:"N" help:"Parallel requests to the mirrors (most files are small: latency, not bandwidth, bounds a create; over HTTP/2 they share one connection). Compression has its own --compress-workers. Example: --jobs 16 for a mirror that limits clients."`
	Retries    int       `default:"4" help:"Retries of a request that failed with a 5xx, a reset, a truncation or a timeout, with backoff (0: none)."`
	Cache      string    `placeholder:"DIR" type:"path" help:"Download cache; a repeated or interrupted create downloads nothing twice. Default: <user cache dir>/gobundle. It grows with every module version fetched: gobundle cache du shows it, gobundle cache clean deletes it, --cache-max bounds it."`
	CacheMax   *byteSize `name:"cache-max" placeholder:"SIZE" help:"After the create, remove the least recently used downloads (module zips) from --cache until it takes at most SIZE (B, KiB, MiB, GiB, TiB; KB, MB, GB, TB; a bare number is bytes). Removed files are fetched again when a later create needs them. Default: no bound. Example: --cache-max 5GiB."`
	AllZips    bool      `name:"all-zips" help:"Bundle the zip of every module version of the graph, not only of the build lists."`
	SumDBTree  string    `name:"sumdb-tree" placeholder:"FROM" type:"existingfile" help:"Prove every checksum database record in the signed tree head of FROM (an earlier bundle, or a tree head file such as the sumdb/<name>/latest that unpack writes) instead of the newest, so that a rebuild a week later stores the same tree and tiles. Example: --sumdb-tree deps-monday.gobundle."`
	Reproduce  string    `name:"reproduce" placeholder:"OLD" type:"existingfile" help:"Rebuild OLD from the inputs, with OLD's checksum database tree, compression level, frame size and creation time (these win over --level and SOURCE_DATE_EPOCH), and report whether the content digest and the bundle digest match OLD's, listing what differs; exit 1 on a mismatch. -o keeps the rebuild. Example: gobundle create --reproduce deps.gobundle ./myproject."`
	Base       []string  `name:"base" placeholder:"FILE" type:"existingfile" help:"Write an incremental bundle holding only what the earlier bundle FILE lacks, down to the files inside zips, and naming FILE by its digest: serve it beside FILE (repeatable; a base that is itself incremental needs its own bases given too). Its checksum database trees are proven consistent with the new one, as with --sumdb-since. Example: --base week1.gobundle."`
	SumDBSince []string  `name:"sumdb-since" placeholder:"FILE" type:"existingfile" help:"An earlier bundle whose clients must keep verifying: store the checksum database tiles proving its trees consistent with this bundle's, which stays self-contained (repeatable)."`
	Level      string    `default:"better" enum:"fastest,default,better,best" help:"zstd compression level: fastest, default, better or best. The default, better, gives the small bundle (module content about 0.66x of tar | zstd -19 --long=27 of the go command's cache on hugo) in about the wall time of default, since compression runs beside the downloads on every core; best is about 7 % smaller again for about twice the time, default and fastest are larger and only faster where CPU is short (README, Compression levels). Compressed frames are cached per level under --cache, so a repeated create compresses nothing. Example: --level best."`
	compressWorkersFlag
	signFlag
	RawZips bool `name:"raw-zips" help:"Store each module zip as the mirror served it instead of as its files: the zips need no re-reading, spooling or compressing (on hugo about half the CPU of a create), for a bundle about a third larger whose zips share nothing across versions."`
	Strict  bool `help:"Fail instead of leaving out, with a warning, what the go command itself never reads: a go.mod only the full unpruned module graph reaches that the mirrors answer 404, 403 or 410 for, and the checksum database record (404/410) of a module version go.sum pins."`
	toolchainFlags
	VulnDB  vulnDBFlag `name:"vulndb" placeholder:"[VERSION]" help:"Bundle the Go vulnerability database, read from the OSV entries of the module golang.org/x/vulndb at VERSION (default: the newest version the mirror lists), checked like any module zip; serve answers it under /vulndb/ (govulncheck -db http://HOST:PORT/vulndb), unpack writes DIR/vulndb. Add golang.org/x/vuln@VERSION as an input to install govulncheck inside. Example: --vulndb, or --vulndb=v0.0.0-20261105234957-e22db6528018."`
	JSON    bool       `name:"json" help:"Print the summary as JSON on standard output."`
	Verbose bool       `short:"v" help:"Log what the resolver does on standard error."`
	// CPUProfile writes a CPU profile of the whole create (for make bench
	// and go tool pprof).
	CPUProfile string `name:"cpuprofile" hidden:"" placeholder:"FILE" help:"Write a CPU profile to FILE."`
	// MemProfile writes a heap profile of the create's highest live heap.
	MemProfile string `name:"memprofile" hidden:"" placeholder:"FILE" help:"Write a heap profile of the highest live heap to FILE."`
}

// goEnvKeys returns the go command settings create honours, from the
// environment or else from `go env`.
func goEnvKeys() []string {
	return []string{"GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE", "GOFLAGS", "GOROOT", "GOAUTH"}
}

// passEnv returns the variables handed to the go command for "direct" mirrors.
func passEnv() []string {
	return []string{"PATH", "HOME", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "SystemRoot", "TMPDIR", "TEMP", "TMP",
		"XDG_CONFIG_HOME", "GOENV", "GOPATH", "GOCACHE", "GOTOOLCHAIN", "GOVCS", "GIT_SSH_COMMAND", "GIT_TERMINAL_PROMPT",
		"SSH_AUTH_SOCK", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
		"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_SSL_CAINFO", "GIT_ASKPASS", "SSL_CERT_FILE", "SSL_CERT_DIR"}
}

// createSummary is what create reports, as text or --json.
type createSummary struct {
	Output         string   `json:"output"`
	Inputs         []string `json:"inputs"`
	Mirrors        []string `json:"mirrors"`
	SumDB          string   `json:"sumdb"`
	ModuleVersions int      `json:"module_versions"`
	Zips           int      `json:"zips"`
	Files          int      `json:"files"`
	GraphNodes     int      `json:"graph_nodes"`
	GraphEdges     int      `json:"graph_edges"`
	BuildList      int      `json:"build_list"`
	ModuleBytes    int64    `json:"module_bytes"`
	BytesFetched   int64    `json:"bytes_fetched"`
	Requests       int64    `json:"requests"`
	CacheHits      int64    `json:"cache_hits"`
	Retries        int64    `json:"retries"`
	GoSumChecks    int      `json:"gosum_checks"`
	SumDBChecks    int      `json:"sumdb_checks"`
	BundleSize     int64    `json:"bundle_size"`
	// Bases is the number of bases of an incremental bundle (--base), and
	// BundleModules the module versions it holds (those they lack).
	Bases         int `json:"bases,omitempty"`
	BundleModules int `json:"bundle_module_versions"`
	// LeftOut lists the files left out with a warning (--strict fails instead).
	LeftOut   []resolver.Gap `json:"left_out"`
	Seconds   float64        `json:"seconds"`
	Reproduce *reproduceJSON `json:"reproduce,omitempty"`
	// CacheTrim is what --cache-max removed from the cache.
	CacheTrim *resolver.TrimStats `json:"cache_trim,omitempty"`
	// Toolchains are the Go toolchains bundled (--toolchain).
	Toolchains []pipeline.Toolchain `json:"toolchains,omitempty"`
	// Latest are the module@latest inputs and what they resolved to.
	Latest []resolver.Choice `json:"latest,omitempty"`
	// VulnDB is the vulnerability database bundled (--vulndb).
	VulnDB *pipeline.VulnDB `json:"vulndb,omitempty"`
}

func (c *CreateCmd) Run(e *env) error {
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("create: --cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("create: --cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if c.MemProfile != "" {
		stop := heapPeakProfile(e.ctx, c.MemProfile)
		defer func() {
			peak, err := stop()
			if err != nil {
				fmt.Fprintf(e.stderr, "gobundle: create: %v\n", err)
				return
			}
			fmt.Fprintf(e.stderr, "gobundle: create: highest live heap %d MiB, profile in %s\n", peak>>20, c.MemProfile)
		}()
	}
	limitMemory(e)
	err := c.run(e, time.Now())
	// Once interrupted, whatever failed failed because of it (a go env
	// killed halfway reports "signal: killed", not the context's error).
	if err != nil && e.ctx.Err() != nil {
		if c.DryRun {
			return errors.New("create: interrupted (files downloaded so far stay in the cache)")
		}
		return fmt.Errorf("create: interrupted; %s not written (files downloaded so far stay in the cache)", c.Output)
	}
	return err
}

func (c *CreateCmd) run(e *env, start time.Time) error {
	opts, err := c.options(e)
	if err != nil {
		return err
	}
	if c.Reproduce != "" && c.Output == "" {
		// Without -o the rebuild is only compared, then removed.
		dir, err := os.MkdirTemp(e.getenv("GOBUNDLE_TMPDIR"), "gobundle-reproduce-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.Output = filepath.Join(dir, "rebuilt.gobundle")
		opts.Output = c.Output
	}
	prog := newCreateProgress(e)
	defer prog.finish()
	opts.Events = prog.event
	res, err := pipeline.Run(e.ctx, opts)
	if err != nil {
		if errors.As(err, new(pipeline.UsageError)) {
			return usageError{err}
		}
		return err
	}
	prog.finish()
	sum := c.summary(res)
	if err := c.printSummary(e, sum, start); err != nil {
		return err
	}
	if rep := res.Reproduce; rep != nil {
		if !c.JSON {
			rep.Write(e.stdout, c.Reproduce)
		}
		if !rep.Match() {
			return fmt.Errorf("create --reproduce: the rebuild does not match %s", c.Reproduce)
		}
	}
	return nil
}

// options checks the flags and turns them into the pipeline's options;
// what the environment and the go command say is read later, by the
// pipeline's Settings.
func (c *CreateCmd) options(e *env) (pipeline.Options, error) {
	var o pipeline.Options
	if c.Output == "" && !c.DryRun && c.Reproduce == "" {
		return o, usageError{errors.New("create: missing flags: --output=FILE (or --dry-run)")}
	}
	if c.Reproduce != "" && (c.DryRun || c.SumDBTree != "") {
		return o, usageError{errors.New("create: --reproduce takes OLD's tree and writes a bundle: drop --dry-run and --sumdb-tree")}
	}
	if c.Output != "" && c.DryRun {
		return o, usageError{errors.New("create: --dry-run writes no bundle: drop --output")}
	}
	if c.Jobs < 1 {
		return o, usageError{errors.New("create: --jobs must be at least 1")}
	}
	if err := c.compressWorkersFlag.check("create"); err != nil {
		return o, err
	}
	platforms, err := c.toolchainFlags.check()
	if err != nil {
		return o, err
	}
	if c.Output != "" {
		if err := checkOutputDir(c.Output); err != nil {
			return o, usageError{fmt.Errorf("create: -o %s: %w", c.Output, err)}
		}
	}
	retries := c.Retries
	switch {
	case retries < 0:
		return o, usageError{errors.New("create: --retries must not be negative")}
	case retries == 0:
		retries = -1 // the fetch layer's "none"
	}
	created, err := e.created()
	if err != nil {
		return o, err
	}
	ok, zlevel := zstd.EncoderLevelFromString(c.Level)
	if !ok {
		return o, usageError{fmt.Errorf("create: unknown --level %q", c.Level)}
	}
	if c.DryRun && len(c.Sign) > 0 {
		return o, usageError{errors.New("create: --dry-run writes no bundle: drop --sign")}
	}
	signers, err := c.signers(e)
	if err != nil {
		return o, err
	}
	level := slog.LevelWarn
	if c.Verbose {
		level = slog.LevelDebug
	}
	o = pipeline.Options{
		Inputs: c.Inputs, From: c.From, GoWork: e.getenv("GOWORK"), Settings: c.settings(e),
		Output: c.Output, DryRun: c.DryRun, Jobs: c.Jobs, Retries: retries, AllZips: c.AllZips, Strict: c.Strict,
		Bundle: bundle.WriterOptions{
			Tool: "gobundle " + toolVersion(), Created: created, Level: zlevel, RawZips: c.RawZips,
			Concurrency: c.CompressWorkers, TempDir: e.getenv("GOBUNDLE_TMPDIR"), Signers: signers,
		},
		SumDBTree: c.SumDBTree, Reproduce: c.Reproduce, Base: c.Base, SumDBSince: c.SumDBSince, CacheMax: -1,
		Toolchains: c.Toolchain, Platforms: platforms, VulnDB: c.VulnDB.Set, VulnDBVersion: c.VulnDB.Version,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})),
	}
	if c.CacheMax != nil {
		o.CacheMax = int64(*c.CacheMax)
	}
	return o, nil
}

// settings returns the pipeline's Settings: flags, else environment, else
// go env.
func (c *CreateCmd) settings(e *env) func(context.Context) (pipeline.Settings, error) {
	return func(ctx context.Context) (pipeline.Settings, error) {
		goenv, err := e.goEnv(ctx, goEnvKeys())
		if err != nil {
			return pipeline.Settings{}, err
		}
		proxy := firstNonEmpty(c.Proxy, goenv["GOPROXY"])
		if proxy == "" {
			return pipeline.Settings{}, usageError{errors.New("create: no mirror chain: set --proxy or GOPROXY")}
		}
		gosumdb := firstNonEmpty(c.SumDB, goenv["GOSUMDB"])
		if gosumdb == "" {
			gosumdb = "off"
		}
		cache, err := defaultCacheDir(c.Cache, "create")
		if err != nil {
			return pipeline.Settings{}, err
		}
		goVersion, err := c.toolchainFlags.farmGo(ctx, e)
		if err != nil {
			return pipeline.Settings{}, err
		}
		return pipeline.Settings{
			GoVersion: goVersion,
			Proxy:     proxy, NoProxy: goenv["GONOPROXY"], Private: goenv["GOPRIVATE"], Insecure: goenv["GOINSECURE"],
			SumDB: gosumdb, NoSumDB: goenv["GONOSUMDB"], Auth: goenv["GOAUTH"], GOROOT: goenv["GOROOT"],
			Netrc: e.netrcFile(), DirectEnv: e.directEnv(goenv, gosumdb), CacheDir: cache,
		}, nil
	}
}

// summary is what create reports of res.
func (c *CreateCmd) summary(res *pipeline.Result) createSummary {
	r := res.Resolved
	sum := createSummary{
		Output: c.Output, Inputs: r.Inputs, Mirrors: r.Mirrors, SumDB: res.SumDB,
		ModuleVersions: r.Stats.Modules, Zips: r.Stats.Zips, Files: r.Stats.Files,
		GraphNodes: r.Stats.Nodes, GraphEdges: r.Stats.Edges, BuildList: r.Stats.BuildList,
		ModuleBytes: r.Stats.Bytes, BytesFetched: r.Stats.Fetch.Bytes, Requests: r.Stats.Fetch.Requests,
		CacheHits: r.Stats.Fetch.CacheHits, Retries: r.Stats.Fetch.Retries,
		GoSumChecks: r.Stats.GoSumChecks, SumDBChecks: r.Stats.SumDBChecks,
		BundleSize: res.Bundle.FileSize, Seconds: res.Elapsed.Seconds(), LeftOut: r.Gaps,
		CacheTrim: res.CacheTrim, Bases: res.Bundle.Bases, BundleModules: res.Bundle.Modules,
		Toolchains: res.Toolchains, Latest: res.Choices, VulnDB: res.VulnDB,
	}
	if sum.LeftOut == nil {
		sum.LeftOut = []resolver.Gap{}
	}
	if res.Reproduce != nil {
		sum.Reproduce = reproduceSummary(c.Reproduce, res.Reproduce)
	}
	return sum
}

// printSummary prints what create did, as text or --json.
func (c *CreateCmd) printSummary(e *env, sum createSummary, start time.Time) error {
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	// The summary is the command's result: --quiet silences only progress.
	// Short lines: the summary must read on an 80-column terminal.
	inputs := plural(len(sum.Inputs), "input", "inputs")
	if c.DryRun {
		fmt.Fprintf(e.stdout, "dry run, no bundle written: %d module versions (%d zips, %d .info/.mod/.zip files, %s)\n",
			sum.ModuleVersions, sum.Zips, sum.Files, humanBytes(sum.ModuleBytes))
	} else {
		fmt.Fprintf(e.stdout, "created %s: %d module versions (%d zips, %d .info/.mod/.zip files, %s)\n",
			c.Output, sum.ModuleVersions, sum.Zips, sum.Files, humanBytes(sum.ModuleBytes))
	}
	fmt.Fprintf(e.stdout, "  from %s, graph %d nodes / %d edges\n", inputs, sum.GraphNodes, sum.GraphEdges)
	fmt.Fprintf(e.stdout, "  fetched %s in %d requests (%d from cache, %d retries)\n",
		humanBytes(sum.BytesFetched), sum.Requests, sum.CacheHits, sum.Retries)
	fmt.Fprintf(e.stdout, "  verified %d hashes with go.sum, %d with checksum database %s\n", sum.GoSumChecks, sum.SumDBChecks, sum.SumDB)
	if c.DryRun {
		fmt.Fprintf(e.stdout, "  in %s\n", time.Since(start).Round(time.Millisecond))
	} else {
		fmt.Fprintf(e.stdout, "  bundle %s in %s\n", humanBytes(sum.BundleSize), time.Since(start).Round(time.Millisecond))
	}
	if sum.Bases > 0 {
		fmt.Fprintf(e.stdout, "  incremental on %s: holds the %d module versions they lack\n", plural(sum.Bases, "base bundle", "base bundles"), sum.BundleModules)
	}
	printSummaryToolchains(e.stdout, sum.Toolchains)
	printSummaryLoop(e.stdout, sum.Latest, sum.VulnDB)
	if t := sum.CacheTrim; t != nil {
		fmt.Fprintf(e.stdout, "  cache %s (at most %s): removed %d downloads, %s\n",
			humanBytes(t.After), humanBytes(int64(*c.CacheMax)), t.Removed, humanBytes(t.RemovedBytes))
	}
	if !e.quiet && len(sum.LeftOut) > 0 {
		fmt.Fprintf(e.stdout, "left out %d files the go command does not read (warnings; --strict fails instead):\n", len(sum.LeftOut))
		for _, g := range sum.LeftOut {
			fmt.Fprintf(e.stdout, "  %s\n", g)
		}
	}
	return nil
}

// goEnv returns the values of keys from the environment, asking `go env`
// for those that are unset.
func (e *env) goEnv(ctx context.Context, keys []string) (map[string]string, error) {
	out := map[string]string{}
	var ask []string
	for _, k := range keys {
		if v := e.getenv(k); v != "" {
			out[k] = v
		} else {
			ask = append(ask, k)
		}
	}
	if len(ask) == 0 {
		return out, nil
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"env", "-json"}, ask...)...)
	data, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("create: go env: %w (set GOPROXY and GOSUMDB, or pass --proxy and --sumdb)", err)
	}
	var vals map[string]string
	if err := json.Unmarshal(data, &vals); err != nil {
		return nil, fmt.Errorf("create: go env: %w", err)
	}
	for _, k := range ask {
		out[k] = vals[k]
	}
	return out, nil
}

// directEnv is the environment of the go command run for "direct" mirrors:
// the settings create was told (gosumdb is the --sumdb value, so that
// "off" reaches it), git's configuration from the environment
// (GIT_CONFIG_COUNT, GIT_CONFIG_KEY_n, GIT_CONFIG_VALUE_n, for
// url.<base>.insteadOf), and GOFLAGS without -mod=, which makes no sense
// outside a module and, as -mod=vendor, would disable module lookups.
func (e *env) directEnv(goenv map[string]string, gosumdb string) []string {
	var env []string
	for _, k := range passEnv() {
		if v := e.getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	if n, err := strconv.Atoi(e.getenv("GIT_CONFIG_COUNT")); err == nil && n > 0 && n <= 1000 {
		env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(n))
		for i := range n {
			for _, k := range []string{"GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"} {
				env = append(env, k+strconv.Itoa(i)+"="+e.getenv(k+strconv.Itoa(i)))
			}
		}
	}
	var flags []string
	for _, f := range strings.Fields(goenv["GOFLAGS"]) {
		if !strings.HasPrefix(f, "-mod=") && !strings.HasPrefix(f, "--mod=") {
			flags = append(flags, f)
		}
	}
	env = append(env, "GOFLAGS="+strings.Join(flags, " "), "GOSUMDB="+gosumdb)
	for _, k := range []string{"GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOAUTH"} {
		if v := goenv[k]; v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// netrcFile returns $NETRC, else ~/.netrc (_netrc on Windows) if it exists.
func (e *env) netrcFile() string {
	if f := e.getenv("NETRC"); f != "" {
		return f
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	name := ".netrc"
	if runtime.GOOS == "windows" {
		name = "_netrc"
	}
	f := filepath.Join(home, name)
	if _, err := os.Stat(f); err != nil {
		return ""
	}
	return f
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// createProgress draws the pipeline's events: a bar for resolving the
// graph, one for downloading and verifying zips, one for compressing and
// one for adding the module versions at the end; warnings are printed.
type createProgress struct {
	e        *env
	mu       sync.Mutex
	resolve  *progress
	zips     *progress
	compress *progress
	add      *progress
}

func newCreateProgress(e *env) *createProgress {
	return &createProgress{e: e}
}

func (p *createProgress) event(ev pipeline.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var bar **progress
	label, bytes := "", false
	switch ev.Stage {
	case "resolve":
		bar, label = &p.resolve, "resolving"
	case "verify":
		p.resolve.Finish()
		bar, label = &p.zips, "downloading zips"
	case "compress":
		bar, label, bytes = &p.compress, "compressing", true
	case "add":
		bar, label = &p.add, "adding"
	case "warning":
		fmt.Fprintf(p.e.stderr, "gobundle: create: warning: %s\n", ev.Item)
		return
	default:
		return
	}
	if ev.End {
		(*bar).Finish()
		return
	}
	if *bar == nil {
		*bar = p.e.newProgress(label, bytes)
	}
	(*bar).Update(ev.Done, ev.Total, ev.Item)
}

func (p *createProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range []*progress{p.resolve, p.zips, p.compress, p.add} {
		b.Finish()
	}
}
