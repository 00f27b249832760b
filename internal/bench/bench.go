package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/gobundle/gobundle/internal/fsutil"
)

// goEnvVars are the values of `go env` the bench uses.
type goEnvVars struct {
	GOPROXY   string
	GOSUMDB   string
	GOCACHE   string
	GOVERSION string
}

// bench is one run: configuration, prepared trees and the report.
type bench struct {
	cfg        config
	log        *slog.Logger
	goenv      goEnvVars
	zstd       string // zstd version
	rep        *report
	aptUpdated bool
	tmp        string // this run's scratch directory
	binShown   string // the gobundle binary as given, when cfg.bin is a private copy
	timeBin    string // GNU time, for the peak RSS of children; "" if unavailable

	trees map[string]*tree // prepared trees by name
	// packed holds the bundle written by the size stage for each tree, so
	// later stages re-use it instead of packing again.
	packed map[string]string
	bigKey string
	// cpuRef is set once the CPU reference of this run is in the report.
	cpuRef bool
}

func newBench(ctx context.Context, cfg config, log *slog.Logger) (*bench, error) {
	b := &bench{
		cfg:    cfg,
		log:    log,
		trees:  map[string]*tree{},
		packed: map[string]string{},
	}
	for _, d := range []string{cfg.dir, b.outDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// Each run has its own scratch area, so that runs sharing .bench (by
	// several people, or a stage run by hand) never remove each other's
	// files; those of runs that ended are removed here.
	b.tmp = filepath.Join(cfg.dir, "tmp", fmt.Sprintf("run-%d", os.Getpid()))
	cleanStaleRuns(filepath.Join(cfg.dir, "tmp"), log)
	if err := removeAll(b.tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.tmp, 0o755); err != nil {
		return nil, err
	}
	// Run a private copy of gobundle: others rebuilding bin/gobundle
	// during a long run must not change the binary between two packs.
	if _, err := os.Stat(cfg.bin); err == nil {
		cp := filepath.Join(b.tmp, filepath.Base(cfg.bin))
		if err := copyFile(cfg.bin, cp); err != nil {
			return nil, err
		}
		if err := os.Chmod(cp, 0o755); err != nil {
			return nil, err
		}
		b.binShown = cfg.bin
		b.cfg.bin = cp
	}
	out, err := b.output(ctx, proc{args: []string{"go", "env", "-json", "GOPROXY", "GOSUMDB", "GOCACHE", "GOVERSION"}})
	if err != nil {
		return nil, fmt.Errorf("reading go env: %w", err)
	}
	if err := json.Unmarshal(out, &b.goenv); err != nil {
		return nil, fmt.Errorf("reading go env: %w", err)
	}
	if b.goenv.GOPROXY == "" || b.goenv.GOPROXY == "off" {
		return nil, fmt.Errorf("go env GOPROXY is %q: the bench needs a module mirror", b.goenv.GOPROXY)
	}
	if b.goenv.GOSUMDB == "" {
		b.goenv.GOSUMDB = "off"
	}
	for _, t := range [][2]string{{"zstd", "zstd"}, {"tar", "tar"}, {"bash", "bash"}} {
		if err := b.ensureTool(ctx, t[0], t[1]); err != nil {
			return nil, err
		}
	}
	if runtime.GOOS == "linux" {
		if err := b.ensureTool(ctx, "/usr/bin/time", "time"); err != nil {
			log.Warn("peak RSS of children will include the bench's own", "err", err)
		} else {
			b.timeBin = "/usr/bin/time"
		}
	}
	zv, err := b.output(ctx, proc{args: []string{"zstd", "--version"}})
	if err != nil {
		return nil, err
	}
	b.zstd = parseZstdVersion(string(zv))
	b.rep = newReport(cfg, b.goenv.GOVERSION, b.zstd, b.gobundleVersion(ctx))
	return b, nil
}

// parseZstdVersion finds "v1.5.4" in the output of zstd --version.
func parseZstdVersion(s string) string {
	if m := regexp.MustCompile(`v\d+\.\d+\.\d+`).FindString(s); m != "" {
		return m
	}
	return strings.TrimSpace(s)
}

// gobundleVersion returns `gobundle --version` or a digest of the binary.
func (b *bench) gobundleVersion(ctx context.Context) string {
	sum, err := fsutil.FileSHA256(b.cfg.bin)
	if err != nil {
		return "missing (" + b.cfg.bin + ")"
	}
	return "bin/gobundle sha256 " + sum[:12]
}

func (b *bench) gopath() string { return filepath.Join(b.cfg.dir, "gopath") }
func (b *bench) outDir() string { return filepath.Join(b.cfg.dir, "out") }
func (b *bench) tmpDir() string { return b.tmp }
func (b *bench) binRel() string { return b.rel(b.cfg.bin) }
func (b *bench) rel(p string) string {
	if p == b.cfg.bin && b.binShown != "" {
		p = b.binShown
	}
	if r, err := filepath.Rel(b.cfg.root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// outPath names an output of this run: under .bench/out when -keep is
// given, else under the scratch area that the next run clears.
func (b *bench) outPath(name string) string {
	if b.cfg.keep {
		return filepath.Join(b.outDir(), name)
	}
	return filepath.Join(b.tmpDir(), name)
}

// discard removes an output of this run unless -keep was given.
func (b *bench) discard(paths ...string) {
	if b.cfg.keep {
		return
	}
	for _, p := range paths {
		if err := removeAll(p); err != nil {
			b.log.Warn("cleanup", "path", p, "err", err)
		}
	}
}

// needBin fails when the gobundle binary is missing.
func (b *bench) needBin() error {
	if _, err := os.Stat(b.cfg.bin); err != nil {
		return fmt.Errorf("gobundle binary: %w (run make build)", err)
	}
	return nil
}

// staleAge is how old a scratch entry that is not a live run's must be
// before it is removed, where liveness cannot be told.
const staleAge = 6 * time.Hour

// cleanStaleRuns removes the scratch directories of runs that have ended:
// run-PID whose process is gone (where /proc tells), and anything older
// than staleAge.
func cleanStaleRuns(dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	_, procErr := os.Stat("/proc/self")
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		stale := false
		if pid, ok := strings.CutPrefix(e.Name(), "run-"); ok && procErr == nil {
			if _, err := os.Stat(filepath.Join("/proc", pid)); os.IsNotExist(err) {
				stale = true
			}
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAge {
			stale = true
		}
		if stale {
			if err := removeAll(p); err != nil {
				log.Warn("removing stale scratch", "path", p, "err", err)
			}
		}
	}
}

// fileSize returns the size of a file, or 0.
func fileSize(name string) int64 {
	st, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return st.Size()
}

// removeAll removes a tree, making read-only directories (as in a module
// cache) writable first.
func removeAll(dir string) error {
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// hostInfo describes the machine for the report.
func hostInfo() string {
	return fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// now is the wall clock for the report header.
func now() string { return time.Now().UTC().Format(time.RFC3339) }
