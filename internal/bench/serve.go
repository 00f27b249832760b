package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"golang.org/x/mod/module"
)

// serveRuns is how many times each timed download runs per server.
const serveRuns = 3

// stageServe compares `gobundle serve` with nginx serving the unpacked
// tree of the same bundle: `go mod download all` of the project with a
// cold client cache through each, interleaved, and wrk on one .mod URL;
// then serve's startup time and memory on a bundle of 10,000 module
// versions. Everything listens on 127.0.0.1 only.
func (b *bench) stageServe(ctx context.Context) error {
	if err := b.needBin(); err != nil {
		return err
	}
	for _, t := range [][2]string{{"nginx", "nginx"}, {"wrk", "wrk"}} {
		if err := b.ensureTool(ctx, t[0], t[1]); err != nil {
			return err
		}
	}
	t, err := b.tree(ctx, "project")
	if err != nil {
		return err
	}
	bf, which := b.packed["project"], "gobundle pack of the project tree"
	if _, err := os.Stat(bf); bf == "" || err != nil {
		if p, ok := b.packed[createdKey]; ok && fileSize(p) > 0 {
			bf, which = p, "gobundle create of the project"
		} else if bf, err = b.bundleFor(ctx, "project"); err != nil {
			return err
		}
	}
	work := b.outPath("serve")
	if err := removeAll(work); err != nil {
		return err
	}
	defer b.discard(work)
	tree := filepath.Join(work, "unpacked")
	if _, err := b.execute(ctx, proc{args: []string{b.cfg.bin, "--quiet", "unpack", bf, tree}}); err != nil {
		return err
	}
	src := filepath.Join(work, "src")
	if err := copyTree(t.ProjectDir, src); err != nil {
		return err
	}
	modURL, err := pickModURL(tree)
	if err != nil {
		return err
	}

	ng, err := b.startNginx(ctx, filepath.Join(work, "nginx"), tree)
	if err != nil {
		return err
	}
	defer ng.stop(b)
	zipCache := filepath.Join(work, "serve-zips")
	sv, err := b.startServe(ctx, bf, "--zip-cache", zipCache)
	if err != nil {
		return err
	}
	defer sv.stop(b)
	b.log.Info("servers up", "nginx", ng.url, "serve", sv.url, "bundle", b.rel(bf))
	if err := b.serveDownloads(ctx, t, work, src, tree, ng, sv); err != nil {
		return err
	}

	// wrk on one .mod URL, each server alone.
	dur := 10 * time.Second
	if b.cfg.quick {
		dur = 3 * time.Second
	}
	ngRPS, err := b.wrk(ctx, ng.url+modURL, dur)
	if err != nil {
		return err
	}
	svRPS, err := b.wrk(ctx, sv.url+modURL, dur)
	if err != nil {
		return err
	}
	wrkCmd := func(server string) string {
		return fmt.Sprintf("wrk -t2 -c64 -d%ds http://127.0.0.1:<%s port>%s", int(dur.Seconds()), server, modURL)
	}
	b.addAtLeast(figure{Tree: "project", Measure: "wrk -t2 -c64 on one .mod, requests/s (stock: nginx)", Unit: "req/s",
		Value: math.Round(svRPS), Stock: math.Round(ngRPS), HasStock: true, Runs: 1, Command: wrkCmd("serve"), StockCommand: wrkCmd("nginx")}, 0.8)
	svRSS, ngRSS := procTreeRSS(sv.cmd.Process.Pid), procTreeRSS(ng.cmd.Process.Pid)
	if err := emptyTrash(work); err != nil {
		return err
	}
	if svRSS > 0 {
		b.rep.add(figure{Tree: "project", Measure: "RSS after the downloads and wrk (stock: nginx master+workers)", Unit: unitBytes,
			Value: float64(svRSS), Stock: float64(ngRSS), HasStock: ngRSS > 0, Runs: 1, Command: "grep VmRSS /proc/<pid>/status"})
	}
	b.rep.addNote("serve: bundle %s (%s, %s); nginx %d workers, sendfile on, keepalive, access log off; gobundle serve -q (no access log). Servers, go and wrk share this machine's %s.",
		b.rel(bf), which, formatBytes(float64(fileSize(bf))), 2, hostInfo())
	sv.stop(b)
	ng.stop(b)

	return b.serveLarge(ctx, dur)
}

// serveLarge measures serve's startup on the generated bundle of 10,000
// module versions and its RSS after a wrk run against it.
func (b *bench) serveLarge(ctx context.Context, dur time.Duration) error {
	gr, err := b.genBundle(ctx, false)
	if err != nil {
		return err
	}
	o := b.genOptions()
	tree := fmt.Sprintf("gen %dx%d", o.Modules, o.Versions)
	var starts []float64
	var last *server
	for i := 0; i < serveRuns; i++ {
		sv, err := b.startServe(ctx, gr.bundle, "--zip-cache", "off")
		if err != nil {
			return err
		}
		starts = append(starts, sv.startup.Seconds())
		if i < serveRuns-1 {
			sv.stop(b)
		} else {
			last = sv
		}
	}
	defer last.stop(b)
	// The last module's newest .mod: found only through the whole index.
	esc, err := module.EscapePath(o.GenPath(o.Modules - 1))
	if err != nil {
		return err
	}
	modURL := "/" + esc + "/@v/" + fixtures.GenVersion(o.Versions-1) + ".mod"
	rps, err := b.wrk(ctx, last.url+modURL, dur)
	if err != nil {
		return err
	}
	rss := procTreeRSS(last.cmd.Process.Pid)
	serveCmd := fmt.Sprintf("%s serve -q --listen 127.0.0.1:0 gen.gobundle  # until the GOPROXY= line", b.binRel())
	b.rep.add(figure{Tree: tree, Measure: "serve startup to the GOPROXY= line", Unit: unitSeconds, Value: median(starts),
		TargetMax: 1, Target: "< 1 s", Runs: len(starts), Command: serveCmd})
	if rss > 0 {
		b.rep.add(figure{Tree: tree, Measure: "serve RSS after wrk", Unit: unitBytes, Value: float64(rss),
			TargetMax: 150 << 20, Target: "< 150 MiB", Runs: 1, Command: "grep VmRSS /proc/<pid>/status"})
	} else {
		b.rep.addNote("serve RSS after wrk on %s: not measured (no /proc)", tree)
	}
	b.rep.add(figure{Tree: tree, Measure: "wrk -t2 -c64 on one .mod, requests/s", Unit: "req/s", Value: math.Round(rps), Runs: 1,
		Command: fmt.Sprintf("wrk -t2 -c64 -d%ds http://127.0.0.1:<serve port>%s", int(dur.Seconds()), modURL)})
	return nil
}

// addAtLeast records a figure whose ratio must be at least min: the
// report's targets are upper bounds, so the status is set here.
func (b *bench) addAtLeast(f figure, min float64) {
	f.Target = fmt.Sprintf("≥ %.2f×", min)
	if f.HasStock && f.Stock > 0 {
		if f.Value/f.Stock >= min {
			f.Status = "PASS"
		} else {
			f.Status = "FAIL"
		}
	}
	b.rep.add(f)
}

// pickModURL returns the URL path of one .mod file of an unpacked tree:
// the first in path order.
func pickModURL(tree string) (string, error) {
	files, err := listModFiles(tree)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if f.Ext == "mod" {
			return "/" + f.Rel, nil
		}
	}
	return "", fmt.Errorf("no .mod file in %s", tree)
}

// server is a running nginx or gobundle serve.
type server struct {
	name    string
	cmd     *exec.Cmd
	url     string
	startup time.Duration
	done    chan error
	stopped bool
}

// stop sends SIGTERM, waits up to 10 s, then kills.
func (s *server) stop(b *bench) {
	if s == nil || s.stopped {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		b.log.Warn("server did not stop on SIGTERM; killing", "server", s.name, "pid", s.cmd.Process.Pid)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// nginxConf is an nginx configuration serving root on 127.0.0.1:port as a
// static GOPROXY tree.
func nginxConf(prefix, root string, port int, asRoot bool) string {
	user := ""
	if asRoot {
		// The tree lives under the bench's work directory, which the
		// default worker user may not be allowed to read.
		user = "user root;\n"
	}
	return fmt.Sprintf(`%sworker_processes 2;
daemon off;
master_process on;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 65;
	keepalive_requests 1000000;
	default_type text/plain;
	types { application/json info; application/zip zip; }
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen 127.0.0.1:%[3]d;
		root %[4]s;
		autoindex off;
		location / { try_files $uri =404; }
	}
}
`, user, prefix, port, root)
}

// startNginx serves root with nginx from a generated configuration under
// prefix, and waits until it accepts connections.
func (b *bench) startNginx(ctx context.Context, prefix, root string) (*server, error) {
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(prefix, root, port, os.Geteuid() == 0)), 0o644); err != nil {
		return nil, err
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(nginx, "-e", filepath.Join(prefix, "error.log"), "-p", prefix, "-c", conf)
	cmd.Env = b.baseEnv()
	var errTail tailBuffer
	errTail.max = 2048
	cmd.Stderr = &errTail
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	s := &server{name: "nginx", cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			s.startup = time.Since(start)
			return s, nil
		}
		select {
		case err := <-s.done:
			s.stopped = true
			log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			return nil, fmt.Errorf("nginx exited at startup (%v): %s %s", err, errTail.String(), lastLine(string(log)))
		case <-ctx.Done():
			s.stop(b)
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(b)
			return nil, fmt.Errorf("nginx on port %d: not accepting connections after 15 s", port)
		}
	}
}

// startServe runs `gobundle serve -q --listen 127.0.0.1:0 [flags] bundle` and
// waits for its GOPROXY= line, timing the startup.
func (b *bench) startServe(ctx context.Context, bundle string, flags ...string) (*server, error) {
	return b.startServeEnv(ctx, b.baseEnv(), bundle, flags...)
}

// startServeEnv is startServe with the environment env and more flags.
func (b *bench) startServeEnv(ctx context.Context, env []string, bundle string, flags ...string) (*server, error) {
	cmd := exec.Command(b.cfg.bin, append(append([]string{"serve", "-q", "--listen", "127.0.0.1:0"}, flags...), bundle)...)
	cmd.Env = env
	var errTail tailBuffer
	errTail.max = 2048
	cmd.Stderr = &errTail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting gobundle serve: %w", err)
	}
	s := &server{name: "gobundle serve", cmd: cmd, done: make(chan error, 1)}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads after startup: drop
			}
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	// Twenty real bundles in a small --memory load slowly on a loaded
	// machine (the collector at its soft limit).
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				s.stopped = true
				err := <-s.done
				return nil, fmt.Errorf("gobundle serve %s exited before its GOPROXY= line (%v): %s", bundle, err, errTail.String())
			}
			if u, ok := strings.CutPrefix(line, "GOPROXY="); ok {
				s.startup = time.Since(start)
				s.url = strings.TrimSpace(u)
				return s, nil
			}
		case <-timeout.C:
			s.stop(b)
			return nil, fmt.Errorf("gobundle serve %s: no GOPROXY= line after 2 minutes: %s", bundle, errTail.String())
		case <-ctx.Done():
			s.stop(b)
			return nil, ctx.Err()
		}
	}
}

// wrk runs `wrk -t2 -c64 -dN url` and returns its requests per second.
func (b *bench) wrk(ctx context.Context, url string, dur time.Duration) (float64, error) {
	args := []string{"wrk", "-t2", "-c64", fmt.Sprintf("-d%ds", int(dur.Seconds())), url}
	b.log.Info("wrk", "url", url)
	out, err := b.output(ctx, proc{args: args})
	if err != nil {
		return 0, err
	}
	rps, err := parseWrk(string(out))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", shellQuote(args), err)
	}
	return rps, nil
}

// parseWrk reads the requests per second from wrk's output; non-2xx
// answers are an error, as they would make the figure meaningless.
func parseWrk(out string) (float64, error) {
	wrkRPS := regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkErrors := regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	if m := wrkErrors.FindStringSubmatch(out); m != nil && m[1] != "0" {
		return 0, fmt.Errorf("%s non-2xx/3xx responses", m[1])
	}
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return 0, errors.New("no Requests/sec line in wrk's output")
	}
	return strconv.ParseFloat(m[1], 64)
}

// procTreeRSS returns the resident set size of a process and its direct
// children (nginx workers), from /proc; 0 where there is no /proc.
func procTreeRSS(pid int) int64 {
	total := procRSS(pid)
	if total == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return total
	}
	for _, f := range strings.Fields(string(data)) {
		if c, err := strconv.Atoi(f); err == nil {
			total += procRSS(c)
		}
	}
	return total
}

// procRSS returns VmRSS of a process in bytes, 0 if unknown.
func procRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return parseVmRSS(string(data))
}

// parseVmRSS finds "VmRSS:  1234 kB" in a /proc/PID/status file.
func parseVmRSS(status string) int64 {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n * 1024
				}
			}
		}
	}
	return 0
}
