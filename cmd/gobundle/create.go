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
	"github.com/gobundle/gobundle/internal/repro"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/resolver"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/module"
)

// CreateCmd is `gobundle create`.
type CreateCmd struct {
	Inputs    []string  `arg:"" optional:"" name:"input" help:"Directories (their go.work, else their go.mod; default .), go.mod or go.work files, or module@version."`
	Output    string    `short:"o" placeholder:"FILE" help:"Bundle file to write (written to a temporary file, then renamed). Required unless --dry-run."`
	DryRun    bool      `name:"dry-run" help:"Resolve, fetch and verify everything a bundle would hold, then stop: no bundle is written (a check for CI, and a measure of what the resolver alone costs)."`
	From      []string  `placeholder:"FILE" help:"Read more inputs from FILE, one a line (# comments; relative paths from FILE's directory)."`
	Proxy     string    `placeholder:"LIST" help:"Mirror chain, GOPROXY syntax (, falls through on 404/410, | on any error; off; direct). Default: $GOPROXY, else go env GOPROXY."`
	SumDB     string    `name:"sumdb" placeholder:"VALUE" help:"Checksum database, GOSUMDB syntax (name, name+key [url], off). Default: $GOSUMDB, else go env GOSUMDB."`
	Jobs      int       `default:"128" placeholder:"N" help:"Parallel requests to the mirrors (most files are small: latency, not bandwidth, bounds a create; over HTTP/2 they share one connection). Compression has its own --compress-workers. Example: --jobs 16 for a mirror that limits clients."`
	Retries   int       `default:"4" help:"Retries of a request that failed with a 5xx, a reset, a truncation or a timeout, with backoff (0: none)."`
	Cache     string    `placeholder:"DIR" type:"path" help:"Download cache; a repeated or interrupted create downloads nothing twice. Default: <user cache dir>/gobundle. It grows with every module version fetched: gobundle cache du shows it, gobundle cache clean deletes it, --cache-max bounds it."`
	CacheMax  *byteSize `name:"cache-max" placeholder:"SIZE" help:"After the create, remove the least recently used downloads (module zips) from --cache until it takes at most SIZE (B, KiB, MiB, GiB, TiB; KB, MB, GB, TB; a bare number is bytes). Removed files are fetched again when a later create needs them. Default: no bound. Example: --cache-max 5GiB."`
	AllZips   bool      `name:"all-zips" help:"Bundle the zip of every module version of the graph, not only of the build lists."`
	SumDBTree string    `name:"sumdb-tree" placeholder:"FROM" type:"existingfile" help:"Prove every checksum database record in the signed tree head of FROM (an earlier bundle, or a tree head file such as the sumdb/<name>/latest that unpack writes) instead of the newest, so that a rebuild a week later stores the same tree and tiles. Example: --sumdb-tree deps-monday.gobundle."`
	Reproduce string    `name:"reproduce" placeholder:"OLD" type:"existingfile" help:"Rebuild OLD from the inputs, with OLD's checksum database tree, compression level, frame size and creation time (these win over --level and SOURCE_DATE_EPOCH), and report whether the content digest and the bundle digest match OLD's, listing what differs; exit 1 on a mismatch. -o keeps the rebuild. Example: gobundle create --reproduce deps.gobundle ./myproject."`
	Base      []string  `name:"base" aliases:"sumdb-since" placeholder:"FILE" type:"existingfile" help:"An earlier bundle whose clients must keep verifying: store the checksum database tiles proving its trees consistent with this bundle's."`
	Level     string    `default:"default" enum:"fastest,default,better,best" help:"zstd compression level: fastest, default, better or best. A cold create is CPU-bound and compressing is the largest part of it: on hugo, default costs about 6 s of CPU for a 193 MB bundle, better 14 s for 176 MB, best about 40 s for 165 MB. Pick better or best (as pack does) when size matters more than time. Compressed frames are cached per level under --cache, so a repeated create compresses nothing."`
	compressWorkersFlag
	RawZips bool `name:"raw-zips" help:"Store each module zip as the mirror served it instead of as its files: the zips need no re-reading, spooling or compressing (on hugo about half the CPU of a create), for a bundle about a third larger whose zips share nothing across versions."`
	Strict  bool `help:"Fail instead of leaving out, with a warning, what the go command itself never reads: a go.mod only the full unpruned module graph reaches that the mirrors answer 404, 403 or 410 for, and the checksum database record (404/410) of a module version go.sum pins."`
	JSON    bool `name:"json" help:"Print the summary as JSON on standard output."`
	Verbose bool `short:"v" help:"Log what the resolver does on standard error."`
	// CPUProfile writes a CPU profile of the whole create (for make bench
	// and go tool pprof).
	CPUProfile string `name:"cpuprofile" hidden:"" placeholder:"FILE" help:"Write a CPU profile to FILE."`
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
	// LeftOut lists the files left out with a warning (--strict fails instead).
	LeftOut   []resolver.Gap `json:"left_out"`
	Seconds   float64        `json:"seconds"`
	Reproduce *reproduceJSON `json:"reproduce,omitempty"`
	// CacheTrim is what --cache-max removed from the cache.
	CacheTrim *resolver.TrimStats `json:"cache_trim,omitempty"`
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
	err := c.run(e)
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

func (c *CreateCmd) run(e *env) error {
	start := time.Now()
	ctx := e.ctx
	if c.Output == "" && !c.DryRun && c.Reproduce == "" {
		return usageError{errors.New("create: missing flags: --output=FILE (or --dry-run)")}
	}
	if c.Reproduce != "" && (c.DryRun || c.SumDBTree != "") {
		return usageError{errors.New("create: --reproduce takes OLD's tree and writes a bundle: drop --dry-run and --sumdb-tree")}
	}
	if c.Output != "" && c.DryRun {
		return usageError{errors.New("create: --dry-run writes no bundle: drop --output")}
	}
	if c.Jobs < 1 {
		return usageError{errors.New("create: --jobs must be at least 1")}
	}
	if err := c.compressWorkersFlag.check("create"); err != nil {
		return err
	}
	if c.Output != "" {
		if err := checkOutputDir(c.Output); err != nil {
			return usageError{fmt.Errorf("create: -o %s: %w", c.Output, err)}
		}
	}
	retries := c.Retries
	switch {
	case retries < 0:
		return usageError{errors.New("create: --retries must not be negative")}
	case retries == 0:
		retries = -1 // the fetch layer's "none"
	}
	created, err := e.created()
	if err != nil {
		return err
	}
	ok, zlevel := zstd.EncoderLevelFromString(c.Level)
	if !ok {
		return usageError{fmt.Errorf("create: unknown --level %q", c.Level)}
	}
	storage := bundle.WriterOptions{Created: created, Level: zlevel, RawZips: c.RawZips}
	var old *reproduceTarget
	if c.Reproduce != "" {
		if old, err = openReproduceTarget(ctx, c.Reproduce); err != nil {
			return err
		}
		storage = old.storage
		if c.Output == "" {
			dir, err := os.MkdirTemp(e.getenv("GOBUNDLE_TMPDIR"), "gobundle-reproduce-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			c.Output = filepath.Join(dir, "rebuilt.gobundle")
		}
	}

	// Inputs.
	var inputs []resolver.Input
	args := c.Inputs
	if len(args) == 0 && len(c.From) == 0 {
		args = []string{"."}
	}
	ip := resolver.InputParser{GoWork: e.getenv("GOWORK")}
	for _, a := range args {
		in, err := ip.Parse(a, "")
		if err != nil {
			return usageError{err}
		}
		inputs = append(inputs, in)
	}
	for _, f := range c.From {
		ins, err := ip.ReadList(ctx, f)
		if err != nil {
			return usageError{fmt.Errorf("--from: %w", err)}
		}
		inputs = append(inputs, ins...)
	}
	if len(inputs) == 0 {
		return usageError{errors.New("create: no inputs")}
	}

	// Settings: flags, else environment, else go env.
	goenv, err := e.goEnv(ctx, goEnvKeys())
	if err != nil {
		return err
	}
	proxy := firstNonEmpty(c.Proxy, goenv["GOPROXY"])
	if proxy == "" {
		return usageError{errors.New("create: no mirror chain: set --proxy or GOPROXY")}
	}
	gosumdb := firstNonEmpty(c.SumDB, goenv["GOSUMDB"])
	if gosumdb == "" {
		gosumdb = "off"
	}
	cache, err := defaultCacheDir(c.Cache, "create")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cache, 0o777); err != nil {
		return err
	}

	level := slog.LevelWarn
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	prog := newCreateProgress(e)
	defer prog.finish()

	mirrors, err := resolver.NewMirrors(resolver.MirrorConfig{
		Proxy:    proxy,
		NoProxy:  goenv["GONOPROXY"],
		Private:  goenv["GOPRIVATE"],
		Insecure: goenv["GOINSECURE"],
		CacheDir: cache,
		Jobs:     c.Jobs,
		Retries:  retries,
		Netrc:    e.netrcFile(),
		GOAUTH:   goenv["GOAUTH"],
		GoEnv:    e.directEnv(goenv, gosumdb),
		Logger:   log,
		Progress: prog.event,
	})
	if err != nil {
		return usageError{fmt.Errorf("create: --proxy: %w", err)}
	}
	defer mirrors.Close()
	gosumdb, err = withSumDBKey(ctx, gosumdb, goenv["GOROOT"])
	if err != nil {
		return usageError{fmt.Errorf("create: --sumdb: %w", err)}
	}
	sumdb, err := resolver.NewSumDB(resolver.SumDBConfig{
		GOSUMDB:  gosumdb,
		NoSumDB:  goenv["GONOSUMDB"],
		Private:  goenv["GOPRIVATE"],
		CacheDir: cache,
		Logger:   log,
	}, mirrors)
	if err != nil {
		return usageError{fmt.Errorf("create: --sumdb: %w", err)}
	}
	if sumdb != nil {
		defer sumdb.Close()
	}

	rcfg := resolver.Config{
		Inputs:   inputs,
		Mirrors:  mirrors,
		SumDB:    sumdb,
		AllZips:  c.AllZips,
		Strict:   c.Strict,
		Jobs:     c.Jobs,
		Logger:   log,
		Progress: prog.event,
	}
	var w *bundle.Writer
	if !c.DryRun {
		// The bundle is written while the resolver works: each zip is read
		// into it as it is hashed for verification (once), and content
		// frames are compressed as soon as the graph is known and their
		// zips are in.
		compress := e.newProgress("compressing", true)
		defer compress.Finish()
		w, err = bundle.NewWriter(bundle.WriterOptions{
			Tool:        "gobundle " + toolVersion(),
			Created:     storage.Created,
			TempDir:     e.getenv("GOBUNDLE_TMPDIR"),
			Level:       storage.Level,
			FrameSize:   storage.FrameSize,
			RawZips:     storage.RawZips,
			Concurrency: c.CompressWorkers,
			Progress:    bundleProgress(compress),
			CacheDir:    filepath.Join(cache, "bundle"),
		})
		if err != nil {
			return err
		}
		defer w.Close()
		rcfg.HashZip = func(ctx context.Context, m module.Version, f resolver.Fetched) (string, error) {
			return w.PrepareZip(ctx, m.Path, m.Version, f.File, f.SHA256)
		}
		rcfg.Graph = func(ctx context.Context, mods []resolver.Module, zips []module.Version) error {
			for _, m := range mods {
				if err := w.AddModule(ctx, moduleSource(m)); err != nil {
					return err
				}
			}
			return w.Expect(zips)
		}
		rcfg.Zip = func(ctx context.Context, m resolver.Module) error {
			return w.AddModule(ctx, moduleSource(m))
		}
	}
	res, err := resolver.Resolve(ctx, rcfg)
	if err != nil {
		return err
	}
	prog.finish()

	var st bundle.Stats
	if !c.DryRun {
		tree, err := c.pinnedTree(ctx, sumdb, old)
		if err != nil {
			return err
		}
		sd, err := collectSumDB(ctx, res, sumdb, c.Base, tree)
		if err != nil {
			return err
		}
		if st, err = writeBundle(ctx, e, w, c.Output, res, sumdb, sd); err != nil {
			return err
		}
	}

	sum := createSummary{
		Output: c.Output, Inputs: res.Inputs, Mirrors: res.Mirrors, SumDB: "off",
		ModuleVersions: res.Stats.Modules, Zips: res.Stats.Zips, Files: res.Stats.Files,
		GraphNodes: res.Stats.Nodes, GraphEdges: res.Stats.Edges, BuildList: res.Stats.BuildList,
		ModuleBytes: res.Stats.Bytes, BytesFetched: res.Stats.Fetch.Bytes, Requests: res.Stats.Fetch.Requests,
		CacheHits: res.Stats.Fetch.CacheHits, Retries: res.Stats.Fetch.Retries,
		GoSumChecks: res.Stats.GoSumChecks, SumDBChecks: res.Stats.SumDBChecks,
		BundleSize: st.FileSize, Seconds: time.Since(start).Seconds(), LeftOut: res.Gaps,
	}
	if sum.LeftOut == nil {
		sum.LeftOut = []resolver.Gap{}
	}
	if c.CacheMax != nil {
		// The bundle is written: a failed or interrupted trim is only a
		// warning (the cache stays consistent whatever was removed).
		ts, err := resolver.TrimCache(ctx, cache, int64(*c.CacheMax))
		if err != nil {
			fmt.Fprintf(e.stderr, "gobundle: create: warning: --cache-max: %v\n", err)
		}
		sum.CacheTrim = &ts
	}
	if sumdb != nil {
		sum.SumDB = sumdb.Name()
	}
	var rep *repro.Report
	if old != nil {
		if rep, err = old.compare(ctx, c.Output); err != nil {
			return err
		}
		sum.Reproduce = reproduceSummary(c.Reproduce, rep)
	}
	if err := c.printSummary(e, sum, start); err != nil {
		return err
	}
	if rep != nil {
		if !c.JSON {
			rep.Write(e.stdout, c.Reproduce)
		}
		if !rep.Match() {
			return fmt.Errorf("create --reproduce: the rebuild does not match %s", c.Reproduce)
		}
	}
	return nil
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

// gapProperties records the files left out in the bundle's metadata, one
// property each ("left-out PATH@VERSION FILE"), for inspect.
func gapProperties(gaps []resolver.Gap) []bundle.Property {
	var props []bundle.Property
	for _, g := range gaps {
		props = append(props, bundle.Property{Key: "left-out " + g.Path + "@" + g.Version + " " + g.File, Value: g.Reason})
	}
	return props
}

// moduleSource is what the bundle writer needs of a resolved module.
func moduleSource(m resolver.Module) bundle.ModuleSource {
	src := bundle.ModuleSource{
		Path: m.Path, Version: m.Version,
		Info: m.Info, Mod: m.Mod, InfoOrigin: m.InfoOrigin, ModOrigin: m.ModOrigin,
	}
	if m.Zip != nil {
		src.ZipFile, src.ZipOrigin = m.Zip.File, m.Zip.Origin
		src.ZipSHA256, src.ZipHash = m.Zip.SHA256, m.ZipHash
	}
	return src
}

// writeBundle hands every resolved module version (and the checksum
// database answers read on the way) to the bundle writer w, which has most
// of them already, and writes the file.
func writeBundle(ctx context.Context, e *env, w *bundle.Writer, output string, res *resolver.Result, sumdb *resolver.SumDB, sd *sumdbstore.Data) (bundle.Stats, error) {
	var props []bundle.Property
	if sumdb != nil {
		props = append(props, bundle.Property{Key: "sumdb", Value: sumdb.Name()})
	}
	if sd != nil {
		props = append(props, sd.Properties()...)
	}
	props = append(props, gapProperties(res.Gaps)...)
	w.Describe(res.Inputs, res.Mirrors, props)

	add := e.newProgress("adding", false)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		done  int64
	)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, m := range res.Modules {
		src := moduleSource(m)
		select {
		case sem <- struct{}{}:
		case <-cctx.Done():
		}
		if cctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := w.AddModule(cctx, src)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
				cancel()
			}
			done++
			add.Update(done, int64(len(res.Modules)), m.Path+"@"+m.Version)
		}()
	}
	wg.Wait()
	add.Finish()
	if first == nil {
		first = ctx.Err()
	}
	if first != nil {
		return bundle.Stats{}, first
	}
	if sd != nil {
		// The data is signed, so where it was read (a mirror, the
		// database itself, the cache) adds nothing and would make a warm
		// create differ from a cold one: its origin is the database.
		if err := sd.AddTo(ctx, w, sumdb.Name()); err != nil {
			return bundle.Stats{}, err
		}
	}
	return w.WriteFile(ctx, output)
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

// withSumDBKey turns a bare checksum database name (GOSUMDB=name or
// "name url") into name+key with the key built into the go toolchain at
// goroot; other values are returned as they are.
func withSumDBKey(ctx context.Context, gosumdb, goroot string) (string, error) {
	// sum.golang.google.cn is an alias the go command knows: sum.golang.org
	// (its key) at that URL, which then bypasses the proxies (modfetch
	// dbDial).
	if gosumdb == "sum.golang.google.cn" {
		gosumdb = "sum.golang.org https://sum.golang.google.cn"
	}
	f := strings.Fields(gosumdb)
	if len(f) == 0 || f[0] == "off" || strings.Contains(f[0], "+") {
		return gosumdb, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if goroot == "" {
		return "", fmt.Errorf("GOSUMDB %q names no key and GOROOT is unknown: pass name+key", gosumdb)
	}
	keyFile := filepath.Join(goroot, "src", "cmd", "go", "internal", "modfetch", "key.go")
	src, err := os.ReadFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("GOSUMDB %q names no key: %w", gosumdb, err)
	}
	key, ok := resolver.KnownSumDBKeys(src)[f[0]]
	if !ok {
		return "", fmt.Errorf("GOSUMDB %q names no key and the go toolchain knows none for it (%s): pass name+key", gosumdb, keyFile)
	}
	f[0] = key
	return strings.Join(f, " "), nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// createProgress draws the resolver's events: a bar for resolving the
// graph, then one for downloading and verifying zips.
type createProgress struct {
	e       *env
	mu      sync.Mutex
	resolve *progress
	zips    *progress
}

func newCreateProgress(e *env) *createProgress {
	return &createProgress{e: e}
}

func (p *createProgress) event(ev resolver.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Phase {
	case "resolve":
		if p.resolve == nil {
			p.resolve = p.e.newProgress("resolving", false)
		}
		p.resolve.Update(ev.Done, ev.Total, ev.Item)
	case "verify":
		if p.resolve != nil {
			p.resolve.Finish()
		}
		if p.zips == nil {
			p.zips = p.e.newProgress("downloading zips", false)
		}
		p.zips.Update(ev.Done, ev.Total, ev.Item)
	}
}

func (p *createProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resolve.Finish()
	p.zips.Finish()
}
