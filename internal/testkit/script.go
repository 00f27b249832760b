package testkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/gobundle/gobundle/internal/testkit/githost"
	"github.com/gobundle/gobundle/internal/testkit/latencymirror"
	"github.com/rogpeppe/go-internal/testscript"
)

// Params returns testscript parameters for the scripts in dir with the
// kit's Setup, commands and conditions. It asks the host go command for its
// build cache (`go env GOCACHE`) so scripts share compiled std packages.
// Add commands to the returned Params.Cmds, or conditions by wrapping
// Params.Condition.
func Params(t testing.TB, dir string) testscript.Params {
	gocache, err := HostGOCACHE(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return testscript.Params{
		Dir:                 dir,
		Setup:               Setup(gocache),
		Cmds:                Commands(),
		Condition:           Condition,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	}
}

// HostGOCACHE returns the host go command's build cache directory; only
// build outputs live there, never modules.
func HostGOCACHE(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOCACHE")
	// Outside any module, never switching toolchains (which could download).
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("testkit: go env GOCACHE: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" || dir == "off" {
		return "", errors.New("testkit: the host go command has no GOCACHE")
	}
	return dir, nil
}

// SafeGoEnv returns the environment every script starts with: the go
// command reads no configuration file (GOENV=off), keeps modules under
// $WORK/gopath, uses no network at all (GOPROXY=off, GOSUMDB=off) until a
// script starts a fake upstream or checksum database, never switches
// toolchains, never uses version control, and shares the build cache
// gocache (empty: $WORK/gocache).
func SafeGoEnv(work, gocache string) []string {
	if gocache == "" {
		gocache = filepath.Join(work, "gocache")
	}
	gopath := filepath.Join(work, "gopath")
	return []string{
		"GOENV=off",
		"GOPATH=" + gopath,
		"GOMODCACHE=" + filepath.Join(gopath, "pkg", "mod"),
		"GOCACHE=" + gocache,
		"GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local",
		"GOPROXY=off",
		"GOSUMDB=off",
		"GONOSUMDB=",
		"GONOSUMCHECK=",
		"GOPRIVATE=",
		"GONOPROXY=",
		"GOINSECURE=",
		"GOVCS=*:off",
		"GOWORK=",
		"CGO_ENABLED=0",
	}
}

// envKeys returns the variables passed to background processes (serve).
func envKeys() []string {
	return []string{"PATH", "HOME", "TMPDIR", "WORK", "GOTRACEBACK", "GOCOVERDIR", "GORACE",
		"GOENV", "GOPATH", "GOMODCACHE", "GOCACHE", "GOFLAGS", "GOTOOLCHAIN", "GOPROXY", "GOSUMDB",
		"GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GOVCS", "GOWORK",
		"CGO_ENABLED", "GODEBUG", "GOMAXPROCS", "SSL_CERT_FILE", "NETRC", "HTTP_PROXY", "http_proxy", "XDG_CACHE_HOME"}
}

// stateKey keys the per-script *state in testscript.Env.Values.
type stateKey struct{}

// state is what the kit's commands share within one script.
type state struct {
	mu        sync.Mutex
	fixtures  *fixtures.Set // all module fixtures, loaded on first use
	generated map[fixtures.GenOptions]*fixtures.Set
	upstreams map[string]*fakeproxy.Server
	sumdb     *fakesumdb.DB
	githost   *githost.Server
	serves    []*BackgroundProcess
	latency   map[string]*latencymirror.Server
}

// Setup returns the testscript Setup function of the kit: it sets
// [SafeGoEnv] (with the shared build cache gocache), makes $WORK/gopath,
// and prepares the state the kit's commands share; servers started by a
// script stop when it ends.
func Setup(gocache string) func(*testscript.Env) error {
	return func(e *testscript.Env) error {
		for _, kv := range SafeGoEnv(e.WorkDir, gocache) {
			k, v, _ := strings.Cut(kv, "=")
			e.Setenv(k, v)
		}
		if err := os.MkdirAll(filepath.Join(e.WorkDir, "gopath"), 0o777); err != nil {
			return err
		}
		// gobundle's default cache is under the user cache directory; with
		// testscript's HOME=/no-home every script shared /no-home/.cache,
		// checksum-database tree heads included, and two scripts' databases
		// named alike (the same port in two fresh network namespaces) broke
		// each other: "note has no verifiable signatures".
		e.Setenv("XDG_CACHE_HOME", filepath.Join(e.WorkDir, ".cache"))
		st := &state{generated: map[fixtures.GenOptions]*fixtures.Set{}, upstreams: map[string]*fakeproxy.Server{}}
		e.Values[stateKey{}] = st
		e.Defer(st.close)
		return nil
	}
}

func (st *state) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range st.serves {
		p.Stop(5 * time.Second)
	}
	for _, u := range st.upstreams {
		u.Close()
	}
	for _, l := range st.latency {
		l.Close()
	}
	if st.sumdb != nil {
		st.sumdb.Close()
	}
	if st.githost != nil {
		st.githost.Close()
	}
}

func getState(ts *testscript.TestScript) *state {
	st, ok := ts.Value(stateKey{}).(*state)
	if !ok {
		ts.Fatalf("testkit: no kit state: use testkit.Setup in the script's Params")
	}
	return st
}

// allFixtures returns the module fixtures.
func (st *state) allFixtures() (*fixtures.Set, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.fixtures == nil {
		s, err := fixtures.All()
		if err != nil {
			return nil, err
		}
		st.fixtures = s
	}
	return st.fixtures, nil
}

// gen returns the generated set for o, made once per script.
func (st *state) gen(o fixtures.GenOptions) *fixtures.Set {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.generated[o]
	if s == nil {
		s = fixtures.Generate(o)
		st.generated[o] = s
	}
	return s
}

// known returns every module version the script knows: the fixtures plus
// every generated set.
func (st *state) known() (*fixtures.Set, error) {
	all, err := st.allFixtures()
	if err != nil {
		return nil, err
	}
	out := fixtures.NewSet().Merge(all)
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, g := range st.generated {
		out.Merge(g)
	}
	return out, nil
}

// Commands returns the kit's script commands (see the package doc).
func Commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"upstream":  cmdUpstream,
		"sumdb":     cmdSumdb,
		"fixture":   cmdFixture,
		"modules":   cmdModules,
		"toolchain": cmdToolchain,
		"gosum":     cmdGosum,
		"serve":     cmdServe,
		"airgap":    cmdAirgap,
		"fetch":     cmdFetch,
		"githost":   cmdGithost,
		"latency":   cmdLatency,
	}
}

// Condition evaluates the kit's conditions: [airgap] is true when the
// script runs where no network but loopback exists.
func Condition(cond string) (bool, error) {
	switch cond {
	case "airgap":
		ok, _ := AirGapped()
		return ok, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// parseFlags parses args with the flags def defines; usage errors end the
// script.
func parseFlags(ts *testscript.TestScript, usage string, args []string, def func(*flag.FlagSet)) []string {
	fs := flag.NewFlagSet(usage, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def(fs)
	if err := fs.Parse(args); err != nil {
		ts.Fatalf("%v\nusage: %s", err, usage)
	}
	return fs.Args()
}

// genFlags adds -gen NxM and -genseed S; the returned func gives the options
// (ok false without -gen).
func genFlags(fs *flag.FlagSet) func() (fixtures.GenOptions, bool, error) {
	spec := fs.String("gen", "", "generated graph NxM (modules x versions)")
	seed := fs.Uint64("genseed", 1, "seed of the generated graph")
	extra := fs.Int("gendeps", 0, "largest number of random extra requirements (default 2, -1 none)")
	return func() (fixtures.GenOptions, bool, error) {
		if *spec == "" {
			return fixtures.GenOptions{}, false, nil
		}
		ns, ms, ok := strings.Cut(*spec, "x")
		n, err1 := strconv.Atoi(ns)
		m, err2 := strconv.Atoi(ms)
		if !ok || err1 != nil || err2 != nil || n <= 0 || m <= 0 {
			return fixtures.GenOptions{}, false, fmt.Errorf("-gen %q: want NxM, like 100x3", *spec)
		}
		return fixtures.GenOptions{Modules: n, Versions: m, Seed: *seed, ExtraDeps: *extra}, true, nil
	}
}

const upstreamUsage = `upstream start [-name NAME] [-seed N] [-tls] [-auth USER:PASSWORD] [-only PATTERN]... [-skip PATTERN]... [-nofixtures] [-gen NxM [-genseed S] [-gendeps D]]
upstream stop [-name NAME]
upstream fault [-name NAME] [-first N] [-prob P] [-delay D] [-chunk BYTES] [-kinds K,K] KIND [URLPATTERN]
upstream clearfaults [-name NAME]
upstream log [-name NAME]
upstream resetlog [-name NAME]
upstream requested [-name NAME] [-count N] URLPATTERN`

func cmdUpstream(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage:\n%s", upstreamUsage)
	}
	st := getState(ts)
	sub, args := args[0], args[1:]
	var name string
	nameFlag := func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "UPSTREAM", "upstream name (its URL goes to $NAME)")
	}
	get := func() *fakeproxy.Server {
		st.mu.Lock()
		defer st.mu.Unlock()
		u := st.upstreams[name]
		if u == nil {
			ts.Fatalf("upstream %s: not started", name)
		}
		return u
	}
	if neg && sub != "requested" {
		ts.Fatalf("unsupported: ! upstream %s", sub)
	}
	switch sub {
	case "start":
		var seed uint64
		var only, skip listFlag
		var nofix bool
		var auth string
		var useTLS bool
		var genOpts func() (fixtures.GenOptions, bool, error)
		rest := parseFlags(ts, upstreamUsage, args, func(fs *flag.FlagSet) {
			nameFlag(fs)
			fs.Uint64Var(&seed, "seed", 1, "fault seed")
			fs.Var(&only, "only", "serve only modules matching")
			fs.Var(&skip, "skip", "do not serve modules matching")
			fs.BoolVar(&nofix, "nofixtures", false, "serve no module fixtures")
			fs.StringVar(&auth, "auth", "", "require basic auth USER:PASSWORD")
			fs.BoolVar(&useTLS, "tls", false, "serve HTTPS; sets SSL_CERT_FILE")
			genOpts = genFlags(fs)
		})
		if len(rest) > 0 {
			ts.Fatalf("usage:\n%s", upstreamUsage)
		}
		set := fixtures.NewSet()
		if !nofix {
			all, err := st.allFixtures()
			ts.Check(err)
			set.Merge(all)
		}
		o, ok, err := genOpts()
		ts.Check(err)
		if ok {
			set.Merge(st.gen(o))
		}
		set = set.Select(func(m *fixtures.Module) bool {
			keep := len(only) == 0
			for _, p := range only {
				keep = keep || fixtures.Match(p, m)
			}
			for _, p := range skip {
				keep = keep && !fixtures.Match(p, m)
			}
			return keep
		})
		st.mu.Lock()
		if st.upstreams[name] != nil {
			st.mu.Unlock()
			ts.Fatalf("upstream %s already started", name)
		}
		var u *fakeproxy.Server
		if useTLS {
			u = fakeproxy.StartTLS(set, seed)
		} else {
			u = fakeproxy.Start(set, seed)
		}
		if auth != "" {
			user, pw, _ := strings.Cut(auth, ":")
			u.RequireAuth(user, pw)
		}
		st.upstreams[name] = u
		if st.sumdb != nil {
			u.MountSumDB(st.sumdb.Name(), st.sumdb.Handler())
		}
		st.mu.Unlock()
		ts.Setenv(name, u.URL)
		_, host, _ := strings.Cut(u.URL, "://")
		ts.Setenv(name+"_HOST", host)
		if auth != "" {
			user, pw, _ := strings.Cut(auth, ":")
			netrc := fmt.Sprintf("machine %s login %s password %s\n", host, user, pw)
			ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), name+".netrc"), []byte(netrc), 0o600))
		}
		if pemData := u.CertPEM(); pemData != nil {
			certFile := ts.MkAbs(filepath.Join(ts.Getenv("WORK"), "fakeproxy-cert.pem"))
			ts.Check(os.WriteFile(certFile, pemData, 0o666))
			ts.Setenv("SSL_CERT_FILE", certFile)
		}
		if name == "UPSTREAM" {
			ts.Setenv("GOPROXY", u.URL)
		}
		ts.Logf("upstream %s: %s serving %d module versions (GOPROXY=$%s)", name, u.URL, set.Len(), name)
	case "fault":
		var f fakeproxy.Fault
		var kinds string
		rest := parseFlags(ts, upstreamUsage, args, func(fs *flag.FlagSet) {
			nameFlag(fs)
			fs.IntVar(&f.First, "first", 0, "fault only the first N requests of each path")
			fs.Float64Var(&f.Prob, "prob", 0, "fault with this probability (seeded)")
			fs.DurationVar(&f.Delay, "delay", 0, "latency, or pause between trickle chunks")
			fs.IntVar(&f.Chunk, "chunk", 0, "trickle chunk size")
			fs.StringVar(&kinds, "kinds", "", "choices of a random fault")
		})
		if len(rest) < 1 || len(rest) > 2 {
			ts.Fatalf("usage:\n%s", upstreamUsage)
		}
		k, err := fakeproxy.ParseKind(rest[0])
		ts.Check(err)
		f.Kind = k
		if len(rest) == 2 {
			f.Pattern = rest[1]
		}
		if kinds != "" {
			for _, s := range strings.Split(kinds, ",") {
				k, err := fakeproxy.ParseKind(s)
				ts.Check(err)
				f.Kinds = append(f.Kinds, k)
			}
		}
		ts.Check(get().AddFault(f))
	case "stop":
		parseFlags(ts, upstreamUsage, args, nameFlag)
		get().Close()
	case "clearfaults":
		parseFlags(ts, upstreamUsage, args, nameFlag)
		get().ClearFaults()
	case "log":
		parseFlags(ts, upstreamUsage, args, nameFlag)
		for _, r := range get().Requests() {
			fmt.Fprintln(ts.Stdout(), r)
		}
	case "resetlog":
		parseFlags(ts, upstreamUsage, args, nameFlag)
		get().ResetLog()
	case "requested":
		count := -1
		rest := parseFlags(ts, upstreamUsage, args, func(fs *flag.FlagSet) {
			nameFlag(fs)
			fs.IntVar(&count, "count", -1, "exact number of matching requests")
		})
		if len(rest) != 1 {
			ts.Fatalf("usage:\n%s", upstreamUsage)
		}
		n := get().Count(rest[0])
		switch {
		case neg && count >= 0:
			ts.Fatalf("unsupported: ! upstream requested -count")
		case neg && n > 0:
			ts.Fatalf("upstream %s: %d requests match %s, want none", name, n, rest[0])
		case !neg && count >= 0 && n != count:
			ts.Fatalf("upstream %s: %d requests match %s, want %d", name, n, rest[0], count)
		case !neg && count < 0 && n == 0:
			ts.Fatalf("upstream %s: no request matches %s", name, rest[0])
		}
	default:
		ts.Fatalf("unknown subcommand %q; usage:\n%s", sub, upstreamUsage)
	}
}

const sumdbUsage = `sumdb start [-name NAME] [-lie PATH@VERSION[/go.mod]]... [-lazy] [-gen NxM [-genseed S] [-gendeps D]]
[!] sumdb requested [-count N] URLPAT (requests made directly, not through an upstream)
sumdb grow N (append N records of other modules: the tree grows)`

func cmdSumdb(ts *testscript.TestScript, neg bool, args []string) {
	st := getState(ts)
	if len(args) > 0 && args[0] == "requested" {
		count := -1
		rest := parseFlags(ts, sumdbUsage, args[1:], func(fs *flag.FlagSet) {
			fs.IntVar(&count, "count", -1, "exact number of matching requests")
		})
		st.mu.Lock()
		db := st.sumdb
		st.mu.Unlock()
		if len(rest) != 1 || db == nil || (neg && count >= 0) {
			ts.Fatalf("usage (after sumdb start): %s", sumdbUsage)
		}
		n := 0
		for _, p := range db.Requests() {
			if fakeproxy.MatchPath(rest[0], p) {
				n++
			}
		}
		switch {
		case neg && n > 0:
			ts.Fatalf("sumdb: %d requests match %s, want none", n, rest[0])
		case !neg && count >= 0 && n != count:
			ts.Fatalf("sumdb: %d requests match %s, want %d", n, rest[0], count)
		case !neg && count < 0 && n == 0:
			ts.Fatalf("sumdb: no request matches %s", rest[0])
		}
		return
	}
	if len(args) == 2 && args[0] == "grow" && !neg {
		n, err := strconv.Atoi(args[1])
		st.mu.Lock()
		db := st.sumdb
		st.mu.Unlock()
		if err != nil || n < 1 || db == nil {
			ts.Fatalf("usage (after sumdb start): %s", sumdbUsage)
		}
		ts.Check(db.Grow(n))
		ts.Logf("sumdb %s grew to %d records", db.Name(), db.Size())
		return
	}
	if neg || len(args) == 0 || args[0] != "start" {
		ts.Fatalf("usage: %s", sumdbUsage)
	}
	var opts fakesumdb.Options
	var lies listFlag
	var genOpts func() (fixtures.GenOptions, bool, error)
	rest := parseFlags(ts, sumdbUsage, args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&opts.Name, "name", "", "database name (default 127.0.0.1:PORT)")
		fs.Var(&lies, "lie", "lie about this module version")
		fs.BoolVar(&opts.Lazy, "lazy", false, "add records on lookup")
		genOpts = genFlags(fs)
	})
	if len(rest) > 0 {
		ts.Fatalf("usage: %s", sumdbUsage)
	}
	for _, l := range lies {
		ts.Check(fakesumdb.ParseLie(l))
	}
	opts.Lies = lies
	if o, ok, err := genOpts(); err != nil {
		ts.Fatalf("%v", err)
	} else if ok {
		st.gen(o)
	}
	set, err := st.known()
	ts.Check(err)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sumdb != nil {
		ts.Fatalf("sumdb already started")
	}
	db, err := fakesumdb.Start(set, opts)
	ts.Check(err)
	st.sumdb = db
	for _, u := range st.upstreams {
		u.MountSumDB(db.Name(), db.Handler())
	}
	ts.Setenv("SUMDB_NAME", db.Name())
	ts.Setenv("SUMDB_KEY", db.VerifierKey())
	ts.Setenv("SUMDB_URL", db.URL())
	ts.Setenv("GOSUMDB", db.GOSUMDB())
	ts.Logf("sumdb %s at %s with %d records (GOSUMDB=$SUMDB_KEY $SUMDB_URL; through an upstream: GOSUMDB=$SUMDB_KEY)", db.Name(), db.URL(), db.Size())
}

const fixtureUsage = `fixture PROJECT [DIR] | fixture -gen NxM [-genseed S] [-gendeps D] DIR`

func cmdFixture(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! fixture")
	}
	st := getState(ts)
	var genOpts func() (fixtures.GenOptions, bool, error)
	rest := parseFlags(ts, fixtureUsage, args, func(fs *flag.FlagSet) { genOpts = genFlags(fs) })
	o, gen, err := genOpts()
	ts.Check(err)
	switch {
	case gen && len(rest) == 1:
		st.gen(o)
		ts.Check(fixtures.WriteArchive(fixtures.GenProject(o), ts.MkAbs(rest[0])))
	case !gen && (len(rest) == 1 || len(rest) == 2):
		dir := rest[0]
		if len(rest) == 2 {
			dir = rest[1]
		}
		ts.Check(fixtures.WriteProject(rest[0], ts.MkAbs(dir)))
	default:
		ts.Fatalf("usage: %s (projects: %s)", fixtureUsage, strings.Join(fixtures.ProjectNames(), ", "))
	}
}

// cmdModules adds the module versions laid out under DIR (see
// [fixtures.LoadTree]) to the script's fixtures, for the upstreams and the
// checksum database started after it, and for gosum.
func cmdModules(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: modules DIR")
	}
	st := getState(ts)
	add, err := fixtures.LoadTree(ts.MkAbs(args[0]))
	ts.Check(err)
	all, err := st.allFixtures()
	ts.Check(err)
	st.mu.Lock()
	all.Merge(add)
	st.mu.Unlock()
	ts.Logf("modules: %d module versions added from %s", add.Len(), args[0])
}

// cmdToolchain adds fake Go toolchains (fixtures.Toolchain) NAME for each
// OS/ARCH given (default: this machine's) to the script's fixtures, for the
// upstreams and the checksum database started after it.
func cmdToolchain(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: toolchain NAME [OS/ARCH]...")
	}
	platforms := args[1:]
	if len(platforms) == 0 {
		platforms = []string{runtime.GOOS + "/" + runtime.GOARCH}
	}
	add := fixtures.NewSet()
	for _, p := range platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			ts.Fatalf("toolchain: platform %q: want OS/ARCH", p)
		}
		add.Add(fixtures.Toolchain(args[0], goos, goarch))
	}
	st := getState(ts)
	all, err := st.allFixtures()
	ts.Check(err)
	st.mu.Lock()
	all.Merge(add)
	st.mu.Unlock()
}

func cmdGosum(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 {
		ts.Fatalf("usage: gosum [DIR]")
	}
	dir := "."
	if len(args) == 1 {
		dir = args[0]
	}
	set, err := getState(ts).known()
	ts.Check(err)
	ts.Check(set.WriteGoSum(ts.MkAbs(dir)))
}

func cmdAirgap(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 0 {
		ts.Fatalf("usage: airgap")
	}
	ok, why := AirGapped()
	if ok {
		ts.Logf("air gap enforced: %s", why)
	} else {
		ts.Logf("air gap not enforced: %s; the script runs on loopback only by configuration", why)
	}
}

const fetchUsage = `fetch [-status CODE] [-method GET|HEAD] URL (loopback URLs only)`

func cmdFetch(ts *testscript.TestScript, neg bool, args []string) {
	status := 200
	method := http.MethodGet
	rest := parseFlags(ts, fetchUsage, args, func(fs *flag.FlagSet) {
		fs.IntVar(&status, "status", 200, "expected status")
		fs.StringVar(&method, "method", http.MethodGet, "request method")
	})
	if neg || len(rest) != 1 {
		ts.Fatalf("usage: %s", fetchUsage)
	}
	u, err := url.Parse(rest[0])
	ts.Check(err)
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		ts.Fatalf("fetch: %s is not a loopback URL; scripts never leave the machine", rest[0])
	}
	req, err := http.NewRequestWithContext(context.Background(), method, rest[0], nil)
	ts.Check(err)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Stdout().Write(body)
	if resp.StatusCode != status {
		ts.Fatalf("fetch %s: %s, want %d", rest[0], resp.Status, status)
	}
}

func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	st := getState(ts)
	if len(args) == 1 && args[0] == "-stop" {
		if neg {
			ts.Fatalf("unsupported: ! serve -stop")
		}
		st.mu.Lock()
		n := len(st.serves)
		var p *BackgroundProcess
		if n > 0 {
			p = st.serves[n-1]
			st.serves = st.serves[:n-1]
		}
		st.mu.Unlock()
		if p == nil {
			ts.Fatalf("serve -stop: no serve running")
		}
		err := p.Stop(10 * time.Second)
		fmt.Fprint(ts.Stdout(), p.Output())
		if err != nil {
			ts.Fatalf("gobundle serve: %v", err)
		}
		return
	}
	timeout := 30 * time.Second
	if v := ts.Getenv("SERVE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		ts.Check(err)
		timeout = d
	}
	// Deflated zips are made in the script's own directory, never in a
	// user cache shared between scripts.
	sargs := []string{"serve", "--listen", "127.0.0.1:0"}
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--zip-cache") }) {
		sargs = append(sargs, "--zip-cache", filepath.Join(ts.Getenv("WORK"), "serve-zips"))
	}
	p, proxyURL, err := StartBackground(ts, "gobundle", append(sargs, args...), "GOPROXY=", timeout)
	if neg {
		if err == nil {
			p.Stop(5 * time.Second)
			ts.Fatalf("gobundle serve started, want a failure")
		}
		fmt.Fprintln(ts.Stdout(), err)
		return
	}
	if err != nil {
		ts.Fatalf("%v", err)
	}
	st.mu.Lock()
	st.serves = append(st.serves, p)
	st.mu.Unlock()
	ts.Setenv("GOBUNDLE_PROXY", proxyURL)
	ts.Logf("gobundle serve: GOPROXY=%s ($GOBUNDLE_PROXY)", proxyURL)
}

const githostUsage = `githost start [-name HOST] [-tls] [-auth REPO=USER:PASSWORD]... DIR
githost retag REPO TAG FILE CONTENT
githost log
[!] githost requested PATTERN`

// cmdGithost runs the kit's private git host (see the githost package).
func cmdGithost(ts *testscript.TestScript, neg bool, args []string) {
	st := getState(ts)
	if len(args) == 0 {
		ts.Fatalf("usage:\n%s", githostUsage)
	}
	sub, args := args[0], args[1:]
	if neg && sub != "requested" {
		ts.Fatalf("unsupported: ! githost %s", sub)
	}
	get := func() *githost.Server {
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.githost == nil {
			ts.Fatalf("githost: not started")
		}
		return st.githost
	}
	switch sub {
	case "start":
		name := "git.corp.example"
		var auths listFlag
		var useTLS bool
		rest := parseFlags(ts, githostUsage, args, func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", name, "private host name")
			fs.BoolVar(&useTLS, "tls", false, "answer https too, with a test CA")
			fs.Var(&auths, "auth", "REPO=USER:PASSWORD")
		})
		if len(rest) != 1 {
			ts.Fatalf("usage:\n%s", githostUsage)
		}
		root := ts.MkAbs(filepath.Join(ts.Getenv("WORK"), ".githost"))
		ts.Check(os.MkdirAll(root, 0o777))
		g, err := githost.Start(name, ts.MkAbs(rest[0]), root)
		ts.Check(err)
		var netrc strings.Builder
		for _, a := range auths {
			repo, cred, ok := strings.Cut(a, "=")
			user, pw, ok2 := strings.Cut(cred, ":")
			if !ok || !ok2 {
				ts.Fatalf("githost start: -auth %q: want REPO=USER:PASSWORD", a)
			}
			g.RequireAuth(repo, cred)
			fmt.Fprintf(&netrc, "machine %s login %s password %s\n", name, user, pw)
		}
		st.mu.Lock()
		if st.githost != nil {
			st.mu.Unlock()
			g.Close()
			ts.Fatalf("githost already started")
		}
		st.githost = g
		st.mu.Unlock()
		if netrc.Len() > 0 {
			ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), "githost.netrc"), []byte(netrc.String()), 0o600))
		}
		if useTLS {
			ca, err := g.EnableTLS()
			ts.Check(err)
			caFile := filepath.Join(ts.Getenv("WORK"), "githost-ca.pem")
			ts.Check(os.WriteFile(caFile, ca, 0o666))
			ts.Setenv("SSL_CERT_FILE", caFile)
			ts.Setenv("GIT_SSL_CAINFO", caFile)
			ts.Setenv("HTTPS_PROXY", g.ProxyURL())
			ts.Setenv("https_proxy", g.ProxyURL())
		}
		ts.Setenv("HTTP_PROXY", g.ProxyURL())
		ts.Setenv("http_proxy", g.ProxyURL())
		ts.Setenv("GITHOST", name)
		ts.Setenv("GITHOST_PROXY", g.ProxyURL())
		ts.Logf("githost %s via HTTP_PROXY=%s", name, g.ProxyURL())
	case "retag":
		if len(args) != 4 {
			ts.Fatalf("usage:\n%s", githostUsage)
		}
		ts.Check(get().Retag(context.Background(), args[0], args[1], args[2], args[3]))
	case "log":
		for _, l := range get().Requests() {
			fmt.Fprintln(ts.Stdout(), l)
		}
	case "requested":
		if len(args) != 1 {
			ts.Fatalf("usage:\n%s", githostUsage)
		}
		n := 0
		for _, l := range get().Requests() {
			f := strings.Fields(l)
			if len(f) == 4 && fakeproxy.MatchPath(args[0], f[2]) {
				n++
			}
		}
		if neg && n > 0 {
			ts.Fatalf("githost: %d requests match %s, want none", n, args[0])
		}
		if !neg && n == 0 {
			ts.Fatalf("githost: no request matches %s", args[0])
		}
	default:
		ts.Fatalf("unknown subcommand %q; usage:\n%s", sub, githostUsage)
	}
}

const latencyUsage = `latency [-name NAME] [-delay D] [-dir DIR] UPSTREAM_URL
latency stats [-name NAME]`

// cmdLatency starts a latency mirror (package latencymirror) in front of
// a loopback upstream, keeping what it fetched in DIR ($WORK/latency-NAME
// by default), and sets $NAME (default LATENCY) to its URL; `latency
// stats` prints its requests and upstream fetches.
func cmdLatency(ts *testscript.TestScript, neg bool, args []string) {
	st := getState(ts)
	name, dir := "LATENCY", ""
	delay := time.Duration(0)
	def := func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "LATENCY", "mirror name (its URL goes to $NAME)")
		fs.DurationVar(&delay, "delay", 0, "delay before every answer")
		fs.StringVar(&dir, "dir", "", "tree to serve and keep fetched files in")
	}
	if neg {
		ts.Fatalf("unsupported: ! latency")
	}
	if len(args) > 0 && args[0] == "stats" {
		parseFlags(ts, latencyUsage, args[1:], def)
		st.mu.Lock()
		l := st.latency[name]
		st.mu.Unlock()
		if l == nil {
			ts.Fatalf("latency %s: not started", name)
		}
		fmt.Fprintf(ts.Stdout(), "requests %d\nfetches %d\n", l.Requests.Load(), l.Fetches.Load())
		return
	}
	rest := parseFlags(ts, latencyUsage, args, def)
	if len(rest) != 1 {
		ts.Fatalf("usage:\n%s", latencyUsage)
	}
	u, err := url.Parse(rest[0])
	ts.Check(err)
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		ts.Fatalf("latency: %s is not a loopback URL; scripts never leave the machine", rest[0])
	}
	if dir == "" {
		dir = ts.MkAbs("latency-" + name)
	}
	l, err := latencymirror.Start(latencymirror.Config{Dir: ts.MkAbs(dir), Upstream: rest[0], Delay: delay})
	ts.Check(err)
	st.mu.Lock()
	if st.latency == nil {
		st.latency = map[string]*latencymirror.Server{}
	}
	if st.latency[name] != nil {
		st.mu.Unlock()
		l.Close()
		ts.Fatalf("latency %s already started", name)
	}
	st.latency[name] = l
	st.mu.Unlock()
	ts.Setenv(name, l.URL)
}
