package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The toolchain stage (issue 18) bundles real Go toolchains from the
// mirror of `go env GOPROXY`: one release for one and for three platforms,
// and two consecutive patch releases, each beside the sum of the mirror's
// zip sizes (what the go command would download); then it serves one
// toolchain zip to eight clients at once and reports serve's peak RSS.
const (
	benchToolchain     = "go1.27.4"
	benchToolchainPrev = "go1.27.3"
)

// benchPlatforms are the platforms the mirror here serves toolchains for
// (windows-amd64 answers 403).
var benchPlatforms = []string{"linux/amd64", "linux/arm64", "darwin/arm64"}

// toolchainSummary is the part of `gobundle create --json` this stage reads.
type toolchainSummary struct {
	ModuleBytes int64 `json:"module_bytes"`
	BundleSize  int64 `json:"bundle_size"`
	Toolchains  []struct {
		Name      string   `json:"name"`
		Platforms []string `json:"platforms"`
	} `json:"toolchains"`
}

// toolchainCase is one bundle the stage makes.
type toolchainCase struct {
	name   string
	target float64 // at most this ratio of the mirror's zips
	args   []string
}

func (b *bench) stageToolchain(ctx context.Context) error {
	if err := b.needBin(); err != nil {
		return err
	}
	if b.goenv.GOSUMDB == "off" {
		return fmt.Errorf("go env GOSUMDB is off: toolchains need the checksum database")
	}
	work := filepath.Join(b.cfg.dir, "toolchain")
	proj := filepath.Join(work, "empty")
	if err := os.MkdirAll(proj, 0o777); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module example.com/empty\n\ngo 1.21\n"), 0o666); err != nil {
		return err
	}
	// The download cache is kept across runs: each toolchain zip is about
	// 75 MB.
	cache := filepath.Join(work, "cache")
	all := []string{"--platform", benchPlatforms[0], "--platform", benchPlatforms[1], "--platform", benchPlatforms[2]}
	cases := []toolchainCase{
		{"one release, linux/amd64", 0.80, []string{"--toolchain", benchToolchain, "--platform", "linux/amd64"}},
		{"one release, " + strings.Join(benchPlatforms, " + "), 0.60, append([]string{"--toolchain", benchToolchain}, all...)},
		{"two patch releases, linux/amd64", 0.60, []string{"--toolchain", benchToolchainPrev, "--toolchain", benchToolchain, "--platform", "linux/amd64"}},
	}
	var first string
	for i, c := range cases {
		out := filepath.Join(work, fmt.Sprintf("tc%d.gobundle", i))
		args := append([]string{b.cfg.bin, "create", proj, "-o", out, "--cache", cache, "--json", "-q"}, c.args...)
		var stdout strings.Builder
		env := b.goEnv(filepath.Join(work, "modcache"), b.goenv.GOPROXY, b.goenv.GOSUMDB, "")
		m, err := b.execute(ctx, proc{dir: proj, env: env, args: args, stdout: &stdout})
		if err != nil {
			return err
		}
		var s toolchainSummary
		if err := json.Unmarshal([]byte(stdout.String()), &s); err != nil {
			return fmt.Errorf("%s: reading its JSON summary: %w", shellQuote(args), err)
		}
		cmd := shellQuote(append([]string{b.binRel(), "create", "<empty module>", "-o", filepath.Base(out)}, c.args...))
		b.rep.add(figure{Tree: "toolchain", Measure: "bundle size: " + c.name + " (stock: the mirror's zips)", Unit: unitBytes,
			Value: float64(s.BundleSize), Stock: float64(s.ModuleBytes), HasStock: true, TargetMax: c.target, TargetRatio: true,
			Target: fmt.Sprintf("<= %.2f×", c.target), Runs: 1, Command: cmd,
			StockCommand: "sum of the .zip, .info and .mod sizes the mirror served (create's module_bytes)"})
		b.rep.addNote("toolchain: %s: bundle %s for %s from the mirror, in %s wall, %s CPU, peak RSS %s.", c.name,
			formatBytes(float64(s.BundleSize)), formatBytes(float64(s.ModuleBytes)), m.Wall.Round(time.Millisecond), m.CPU.Round(time.Millisecond), formatBytes(float64(m.MaxRSS)))
		if i == 0 {
			first = out
		}
	}
	return b.toolchainServe(ctx, first)
}

// toolchainServe reports serve's peak RSS while eight clients download
// the toolchain zip of bundle at once, at serve's defaults and with a
// smaller --memory.
func (b *bench) toolchainServe(ctx context.Context, bundle string) error {
	if err := b.toolchainServeRSS(ctx, bundle, "defaults", b.baseEnv()); err != nil {
		return err
	}
	return b.toolchainServeRSS(ctx, bundle, "--memory 64MiB", b.baseEnv(), "--memory", "64MiB")
}

// stageToolchainServe is the serving half of the toolchain stage alone:
// the bundle of one release for linux/amd64 (made once, kept under
// DIR/toolchain as the toolchain stage makes it), then serve's peak RSS
// with eight clients of its zip (issue 18's leftover).
func (b *bench) stageToolchainServe(ctx context.Context) error {
	if err := b.needBin(); err != nil {
		return err
	}
	work := filepath.Join(b.cfg.dir, "toolchain")
	out := filepath.Join(work, "tc0.gobundle")
	if fileSize(out) == 0 {
		proj := filepath.Join(work, "empty")
		if err := os.MkdirAll(proj, 0o777); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module example.com/empty\n\ngo 1.21\n"), 0o666); err != nil {
			return err
		}
		args := []string{b.cfg.bin, "create", proj, "-o", out, "--cache", filepath.Join(work, "cache"), "-q", "--toolchain", benchToolchain, "--platform", "linux/amd64"}
		env := b.goEnv(filepath.Join(work, "modcache"), b.goenv.GOPROXY, b.goenv.GOSUMDB, "")
		if _, err := b.execute(ctx, proc{dir: proj, env: env, args: args}); err != nil {
			return err
		}
	}
	return b.toolchainServe(ctx, out)
}

// toolchainServeRSS serves bundle (one toolchain) with env and flags
// (named how) and has eight clients download its zip at once, twice (the
// first time serve may make the zip it sends), checking every answer,
// then reports serve's peak RSS.
func (b *bench) toolchainServeRSS(ctx context.Context, bundle, how string, env []string, flags ...string) error {
	// A fresh zip cache: the first round makes the deflated zip, the
	// part that costs memory.
	zips := b.outPath("toolchain-serve-zips")
	if err := removeAll(zips); err != nil {
		return err
	}
	defer b.discard(zips)
	sv, err := b.startServeEnv(ctx, env, bundle, append([]string{"--zip-cache", zips}, flags...)...)
	if err != nil {
		return err
	}
	defer sv.stop(b)
	load0 := loadAverage()
	list, err := httpGet(ctx, sv.url+"/golang.org/toolchain/@v/list")
	if err != nil {
		return err
	}
	vers := strings.Fields(string(list))
	if len(vers) != 1 {
		return fmt.Errorf("serve lists %q for golang.org/toolchain, want one version", vers)
	}
	url := sv.url + "/golang.org/toolchain/@v/" + vers[0] + ".zip"
	const clients = 8
	var walls []float64
	var size int64
	for round := 0; round < 2; round++ {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, clients)
		sizes := make([]int64, clients)
		for i := range clients {
			wg.Go(func() { sizes[i], errs[i] = httpDiscard(ctx, url) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("client %d of %s: %w", i, url, err)
			}
			if sizes[i] != sizes[0] {
				return fmt.Errorf("client %d of %s got %d bytes, client 0 %d", i, url, sizes[i], sizes[0])
			}
		}
		size = sizes[0]
		walls = append(walls, time.Since(start).Seconds())
	}
	peak := procPeakRSS(sv.cmd.Process.Pid)
	prefix := ""
	if strings.HasPrefix(how, "GOMEMLIMIT=") {
		prefix, _, _ = strings.Cut(how, " ")
		prefix += " "
	}
	cmd := fmt.Sprintf("%s%s serve --listen 127.0.0.1:0 --zip-cache $(mktemp -d) %s tc0.gobundle & 8 × curl $GOPROXY/golang.org/toolchain/@v/%s.zip at once, twice; grep VmHWM /proc/$!/status",
		prefix, b.binRel(), strings.Join(flags, " "), vers[0])
	b.rep.add(figure{Tree: "toolchain", Measure: fmt.Sprintf("serve peak RSS (%s), %d clients of one toolchain zip (%s) at once", how, clients, formatBytes(float64(size))),
		Unit: unitBytes, Value: float64(peak), TargetMax: 300 << 20, Target: "< 300 MiB", Runs: 2, Command: cmd})
	b.rep.addNote("toolchain: serve with %s: %d clients downloaded %s each at once in %.1f s (first round, zip cache cold) and %.1f s (second); serve's peak RSS %s; load average %s at the start, %s at the end.",
		how, clients, formatBytes(float64(size)), walls[0], walls[1], formatBytes(float64(peak)), load0, loadAverage())
	return nil
}

// httpGet returns the body of a 200 answer.
func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return body, err
}

// httpDiscard downloads url and returns its size, checking it against
// Content-Length.
func httpDiscard(ctx context.Context, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if err == nil && res.ContentLength >= 0 && n != res.ContentLength {
		err = fmt.Errorf("GET %s: %d bytes of %d", url, n, res.ContentLength)
	}
	return n, err
}

// procPeakRSS returns a process's peak RSS (VmHWM) in bytes, 0 if unknown.
func procPeakRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), "kB"), &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
