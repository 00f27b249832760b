package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/version"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
)

// The serve20 stage (issue 20, acceptance 2) serves twenty bundles of
// twenty real projects from one directory and has eight real clients run
// `go mod download all` of eight of those projects at once, each with its
// own module cache and GOPATH, the checksum database of `go env` answered
// through serve; it reports serve's peak RSS (VmHWM) against --memory +
// 256 MiB, at serve's default --memory and at 128 MiB, with a fresh zip
// cache each time (the first downloads make the deflated zips: the worst
// case for memory).
//
// The bundles are made once by `gobundle create DIR --level fastest` of
// each project's source (the level changes the bundle's size, not what
// serving it costs) and kept under DIR/serve20 with the project's
// source; reruns only serve. The download cache of each create is removed
// once its bundle is written.
const (
	serve20Bundles = 20
	serve20Clients = 8
	// serve20Headroom is what the issue allows serve beyond --memory.
	serve20Headroom = 256 << 20
)

// serve20Candidates are real Go projects at exact versions, tried in order
// until twenty bundles are made; the eight smallest are the clients
// (serve20PickClients).
// Versions are ones this machine's upstream serves whose go line go1.26
// accepts, and whose go.mod replaces no module by a local directory (a
// bundle of the project could not hold it).
func serve20Candidates() []candidate {
	return []candidate{
		{"github.com/gohugoio/hugo", "v0.139.0"},
		{"github.com/caddyserver/caddy/v2", "v2.8.4"},
		{"github.com/prometheus/prometheus", "v0.55.1"},
		{"github.com/cli/cli/v2", "v2.62.0"},
		{"github.com/ethereum/go-ethereum", "v1.14.11"},
		{"helm.sh/helm/v3", "v3.22.0"},
		{"github.com/nats-io/nats-server/v2", "v2.15.2"},
		{"github.com/open-policy-agent/opa", "v1.22.3"},
		{"github.com/golangci/golangci-lint/v2", "v2.15.0"},
		{"github.com/goreleaser/goreleaser/v2", "v2.15.1"},
		{"github.com/containerd/containerd/v2", "v2.4.2"},
		{"github.com/derailed/k9s", "v0.50.16"},
		{"github.com/anchore/syft", "v1.57.1"},
		{"github.com/syncthing/syncthing", "v1.30.0"},
		{"go.etcd.io/etcd/server/v3", "v3.7.3"},
		{"sigs.k8s.io/kind", "v0.33.0"},
		{"github.com/influxdata/influxdb", "v1.13.2"},
		{"cuelang.org/go", "v0.17.1"},
		{"github.com/go-task/task/v3", "v3.54.0"},
		{"github.com/jaegertracing/jaeger", "v1.76.0"},
		{"go.temporal.io/sdk", "v1.51.0"},
		{"github.com/google/go-containerregistry", "v0.22.1"},
		{"github.com/labstack/echo/v4", "v4.16.0"},
		{"github.com/gofiber/fiber/v2", "v2.52.15"},
		{"github.com/pulumi/pulumi/sdk/v3", "v3.274.1"},
		{"github.com/VictoriaMetrics/VictoriaMetrics", "v1.151.0"},
		{"github.com/dolthub/go-mysql-server", "v0.20.0"},
		{"github.com/k3s-io/kine", "v0.17.5"},
		{"github.com/hashicorp/terraform-plugin-sdk/v2", "v2.40.1"},
		{"github.com/cockroachdb/pebble/v2", "v2.1.7"},
		{"github.com/dgraph-io/badger/v4", "v4.9.6"},
	}
}

// serve20Project is one prepared project: its source and its bundle.
type serve20Project struct {
	Project string `json:"project"` // module@version
	Src     string `json:"src"`
	Bundle  string `json:"bundle"`
	Size    int64  `json:"size"`
	Modules int    `json:"modules"`
	Error   string `json:"error,omitempty"` // why the candidate was left out
}

func (b *bench) stageServe20(ctx context.Context) error {
	if err := b.needBin(); err != nil {
		return err
	}
	base := filepath.Join(b.cfg.dir, "serve20")
	projs, err := b.serve20Prepare(ctx, base)
	if err != nil {
		return err
	}
	dir := b.outPath("serve20-bundles")
	if err := removeAll(dir); err != nil {
		return err
	}
	defer b.discard(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var total int64
	var names []string
	for _, p := range projs {
		dst := filepath.Join(dir, filepath.Base(p.Bundle))
		if err := os.Link(p.Bundle, dst); err != nil {
			if err := copyFile(p.Bundle, dst); err != nil {
				return err
			}
		}
		total += p.Size
		names = append(names, p.Project)
	}
	clients := serve20PickClients(projs)
	var cnames []string
	for _, p := range clients {
		cnames = append(cnames, p.Project)
	}
	b.rep.addNote("serve20: %d bundles (%s in all, gobundle create DIR --level fastest of each project's source) in one directory: %s; clients: %s.",
		len(projs), formatBytes(float64(total)), strings.Join(names, ", "), strings.Join(cnames, ", "))
	for _, mem := range []string{"", "128MiB"} {
		if err := b.serve20Run(ctx, clients, dir, mem); err != nil {
			return err
		}
	}
	return nil
}

// serve20PickClients returns the projects of the eight smallest bundles:
// with a cold zip cache serve deflates every zip a client asks for (some
// 50 MB/s of content per core), which for the largest eight took over
// ten minutes on this loaded two-core machine; what the twenty bundles
// hold in memory does not depend on which eight download.
func serve20PickClients(projs []serve20Project) []serve20Project {
	out := slices.Clone(projs)
	slices.SortStableFunc(out, func(a, b serve20Project) int { return cmp.Compare(a.Size, b.Size) })
	return out[:min(serve20Clients, len(out))]
}

// serve20Prepare returns the first twenty projects whose bundles are
// made (or were, by an earlier run), making two at a time.
func (b *bench) serve20Prepare(ctx context.Context, base string) ([]serve20Project, error) {
	cands := serve20Candidates()
	results := make([]*serve20Project, len(cands))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	var mu sync.Mutex
	ready := 0
	for i, c := range cands {
		if p, ok := loadServe20(base, c); ok {
			results[i] = p
			if p.Error == "" {
				ready++
			}
		}
	}
	for i, c := range cands {
		mu.Lock()
		enough := ready >= serve20Bundles
		mu.Unlock()
		if enough || ctx.Err() != nil {
			break
		}
		if results[i] != nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := b.serve20Make(ctx, base, c)
			mu.Lock()
			results[i] = p
			if p.Error == "" {
				ready++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []serve20Project
	var failed []string
	for _, p := range results {
		switch {
		case p == nil:
		case p.Error != "":
			_, why, _ := strings.Cut(p.Error, "exit status 1: ")
			if why == "" {
				why = p.Error
			}
			failed = append(failed, p.Project+": "+why)
		case len(out) < serve20Bundles:
			out = append(out, *p)
		}
	}
	for _, f := range failed {
		b.rep.addNote("serve20: candidate left out: %s", f)
	}
	if len(out) < serve20Bundles {
		return nil, fmt.Errorf("serve20: only %d of %d bundles could be made: %s", len(out), serve20Bundles, strings.Join(failed, "; "))
	}
	return out, nil
}

// serve20Dir is where candidate c's source, bundle and result live.
func serve20Dir(base string, c candidate) string {
	return filepath.Join(base, strings.NewReplacer("/", "_", "@", "_").Replace(c.Path+"@"+c.Version))
}

// loadServe20 reads the result an earlier run recorded for c.
func loadServe20(base string, c candidate) (*serve20Project, bool) {
	data, err := os.ReadFile(filepath.Join(serve20Dir(base, c), "ready.json"))
	if err != nil {
		return nil, false
	}
	var p serve20Project
	if json.Unmarshal(data, &p) != nil || p.Project != c.Path+"@"+c.Version {
		return nil, false
	}
	if p.Error == "" && fileSize(p.Bundle) != p.Size {
		return nil, false
	}
	return &p, true
}

// serve20Make fetches c's source and bundles it, recording the result (a
// failure too, so that reruns do not try again; remove its directory to
// retry).
func (b *bench) serve20Make(ctx context.Context, base string, c candidate) *serve20Project {
	dir := serve20Dir(base, c)
	p := &serve20Project{Project: c.Path + "@" + c.Version}
	err := removeAll(dir)
	if err == nil {
		err = b.serve20Bundle(ctx, dir, c, p)
	}
	if ctx.Err() != nil {
		return p // interrupted: record nothing
	}
	if err != nil {
		b.log.Warn("serve20: candidate failed", "project", p.Project, "err", err)
		p.Error = err.Error()
	}
	if data, jerr := json.MarshalIndent(p, "", "  "); jerr == nil {
		if os.MkdirAll(dir, 0o755) == nil {
			writeFileAtomic(filepath.Join(dir, "ready.json"), data)
		}
	}
	return p
}

// serve20Bundle makes c's bundle in dir with `gobundle create`.
func (b *bench) serve20Bundle(ctx context.Context, dir string, c candidate, p *serve20Project) error {
	src, err := b.fetchSource(ctx, dir, c)
	if err != nil {
		return err
	}
	p.Src = src
	p.Bundle = filepath.Join(dir, strings.ReplaceAll(filepath.Base(dir), ".", "_")+".gobundle")
	cache := filepath.Join(dir, "cache")
	env := b.goEnv(filepath.Join(dir, "gomodcache"), b.goenv.GOPROXY, b.goenv.GOSUMDB, "-mod=mod")
	b.log.Info("serve20: gobundle create --level fastest", "project", p.Project)
	start := time.Now()
	m, s, err := b.runCreate(ctx, env, src, p.Bundle, cache, "--level", "fastest")
	if err != nil {
		return err
	}
	b.log.Info("serve20: bundle made", "project", p.Project, "size", formatBytes(float64(s.BundleSize)), "wall", time.Since(start).Round(time.Second), "rss", formatBytes(float64(m.MaxRSS)))
	p.Size = fileSize(p.Bundle)
	p.Modules = s.BundleModules
	if err := removeAll(cache); err != nil {
		return err
	}
	return removeAll(filepath.Join(dir, "gomodcache"))
}

// fetchSource downloads module c through the mirror and copies its files
// to dir/src, refusing a go line newer than the local go and replaces by
// local directories.
func (b *bench) fetchSource(ctx context.Context, dir string, c candidate) (string, error) {
	mv := c.Path + "@" + c.Version
	srcCache := filepath.Join(dir, "srccache")
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return "", err
	}
	out, err := b.output(ctx, proc{dir: empty, env: b.goEnv(srcCache, b.goenv.GOPROXY, b.goenv.GOSUMDB, ""),
		args: []string{"go", "mod", "download", "-json", mv}})
	var dl struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &dl); jerr == nil && dl.Error != "" {
		return "", errors.New(dl.Error)
	}
	if err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(filepath.Join(dl.Dir, "go.mod"))
	if err != nil {
		return "", err
	}
	mf, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return "", err
	}
	if mf.Go != nil && version.Compare("go"+mf.Go.Version, b.goenv.GOVERSION) > 0 {
		return "", fmt.Errorf("go.mod requires go %s, newer than the local %s", mf.Go.Version, b.goenv.GOVERSION)
	}
	for _, r := range mf.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			return "", fmt.Errorf("go.mod replaces %s with the local directory %s", r.Old.Path, r.New.Path)
		}
	}
	src := filepath.Join(dir, "src")
	if err := copyTree(dl.Dir, src); err != nil {
		return "", err
	}
	if err := removeAll(srcCache); err != nil {
		return "", err
	}
	return src, removeAll(empty)
}

// serve20Run serves dir with `gobundle serve` (--memory mem, "" for its
// default) and a fresh zip cache, runs the clients' `go mod download all`
// at once, and reports serve's peak RSS against --memory + 256 MiB and
// the time the clients took.
func (b *bench) serve20Run(ctx context.Context, clients []serve20Project, dir, mem string) error {
	work := b.outPath("serve20-run")
	if err := removeAll(work); err != nil {
		return err
	}
	defer b.discard(work)
	flags := []string{"--zip-cache", filepath.Join(work, "zips")}
	budget, how := int64(512<<20), "default --memory (512 MiB)"
	if mem != "" {
		n, err := parseMiB(mem)
		if err != nil {
			return err
		}
		flags = append(flags, "--memory", mem)
		budget, how = n, "--memory "+mem
	}
	sv, err := b.startServe(ctx, dir, flags...)
	if err != nil {
		return err
	}
	defer sv.stop(b)
	load0 := loadAverage()
	start := time.Now()
	walls := make([]time.Duration, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, p := range clients {
		wg.Go(func() { walls[i], errs[i] = b.serve20Client(ctx, work, i, p, sv.url) })
	}
	wg.Wait()
	wall := time.Since(start)
	peak := procPeakRSS(sv.cmd.Process.Pid)
	gauges := serveMemoryMetrics(ctx, sv.url)
	ok := 0
	var failed []string
	for i, err := range errs {
		if err == nil {
			ok++
		} else {
			failed = append(failed, fmt.Sprintf("%s: %v", clients[i].Project, err))
		}
	}
	bound := budget + serve20Headroom
	memFlag := strings.Join(flags[2:], " ")
	cmd := fmt.Sprintf("%s serve -q --listen 127.0.0.1:0 --zip-cache $(mktemp -d) %s DIR  # DIR: the 20 bundles; then 8 clients at once: cd <project src> && GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=$URL GOSUMDB=%s GOPATH=$(mktemp -d) GOMODCACHE=$(mktemp -d) go mod download all; grep VmHWM /proc/<serve pid>/status",
		b.binRel(), memFlag, b.goenv.GOSUMDB)
	b.rep.add(figure{Tree: "serve20", Measure: fmt.Sprintf("serve peak RSS (VmHWM), %s, %d bundles, %d clients' go mod download all at once, zip cache cold", how, serve20Bundles, len(clients)),
		Unit: unitBytes, Value: float64(peak), TargetMax: float64(bound), Target: fmt.Sprintf("< --memory + 256 MiB = %s", formatBytes(float64(bound))), Runs: 1, Command: cmd})
	b.rep.add(figure{Tree: "serve20", Measure: fmt.Sprintf("%d clients' go mod download all at once, %s, wall until the last finished", len(clients), how),
		Unit: unitSeconds, Value: wall.Seconds(), Runs: 1, Note: fmt.Sprintf("load average %s at the start, %s at the end", load0, loadAverage()), Command: cmd})
	b.rep.addCheck("serve20", fmt.Sprintf("all %d clients succeeded (%s)", len(clients), how), ok == len(clients), strings.Join(failed, "; "), cmd)
	var each []string
	for i, p := range clients {
		each = append(each, fmt.Sprintf("%s %.1f s", p.Project, walls[i].Seconds()))
	}
	b.rep.addNote("serve20 (%s): peak RSS %s (bound %s), %d of %d clients succeeded in %.1f s (%s); zip cache %s after the run; load average %s at the start; /metrics: %s.",
		how, formatBytes(float64(peak)), formatBytes(float64(bound)), ok, len(clients), wall.Seconds(), strings.Join(each, ", "),
		formatBytes(float64(dirBytes(filepath.Join(work, "zips")))), load0, gauges)
	return nil
}

// serve20Client runs `go mod download all` of project p through url with
// a module cache and GOPATH of its own (checksum database state included)
// in a copy of its source (-mod=mod may touch go.mod and go.sum).
func (b *bench) serve20Client(ctx context.Context, work string, i int, p serve20Project, url string) (time.Duration, error) {
	cdir := filepath.Join(work, fmt.Sprintf("client%d", i))
	src := filepath.Join(cdir, "src")
	if err := copyTree(p.Src, src); err != nil {
		return 0, err
	}
	env := b.goEnv(filepath.Join(cdir, "gomodcache"), url, b.goenv.GOSUMDB, "-mod=mod", "GOPATH="+filepath.Join(cdir, "gopath"))
	m, err := b.execute(ctx, proc{dir: src, env: env, args: []string{"go", "mod", "download", "all"}})
	b.log.Info("serve20: client done", "project", p.Project, "wall", m.Wall.Round(time.Millisecond), "err", err)
	if rerr := removeAll(cdir); err == nil {
		err = rerr
	}
	return m.Wall, err
}

// parseMiB reads "128MiB".
func parseMiB(s string) (int64, error) {
	var n int64
	if _, err := fmt.Sscanf(s, "%dMiB", &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("memory %q: want NMiB", s)
	}
	return n << 20, nil
}

// loadAverage is the first field of /proc/loadavg, "?" where unknown.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// serveMemoryMetrics returns serve's memory gauges from /metrics (those
// this serve has) as "name value" pairs.
func serveMemoryMetrics(ctx context.Context, url string) string {
	body, err := httpGet(ctx, url+"/metrics")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch name {
		case "gobundle_serve_resident_memory_bytes", "gobundle_serve_memory_fixed_bytes", "gobundle_serve_frame_limit_bytes", "gobundle_serve_frame_bytes_peak":
			var n float64
			fmt.Sscan(val, &n)
			out = append(out, strings.TrimPrefix(name, "gobundle_serve_")+" "+formatBytes(n))
		}
	}
	return strings.Join(out, ", ")
}
