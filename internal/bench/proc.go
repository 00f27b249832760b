package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// measurement is what one finished child process cost.
type measurement struct {
	Wall   time.Duration
	CPU    time.Duration // user + system, including waited-for children
	MaxRSS int64         // peak resident set size in bytes, 0 if unknown
}

// proc describes one child process to run.
type proc struct {
	dir    string
	env    []string // full environment; nil means the bench's base environment
	stdin  io.Reader
	stdout io.Writer
	args   []string
}

// tailBuffer keeps the last bytes written to it, for error messages.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if t.buf.Len() > 2*t.max {
		b := t.buf.Bytes()
		keep := append([]byte(nil), b[len(b)-t.max:]...)
		t.buf.Reset()
		t.buf.Write(keep)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := t.buf.String()
	if len(s) > t.max {
		s = s[len(s)-t.max:]
	}
	return strings.TrimSpace(s)
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// exitError is a child that ran and failed; Stderr holds the tail of its
// standard error.
type exitError struct {
	Cmd    string
	Code   int
	Stderr string
}

func (e *exitError) Error() string {
	msg := fmt.Sprintf("%s: exit status %d", e.Cmd, e.Code)
	if e.Stderr != "" {
		msg += ": " + lastLine(e.Stderr)
	}
	return msg
}

// execute runs p and measures it. A non-zero exit is an *exitError.
func (b *bench) execute(ctx context.Context, p proc) (measurement, error) {
	var m measurement
	args := p.args
	// A child started from this (large) process inherits its peak RSS
	// through exec on Linux, so ru_maxrss of a direct child is never below
	// the bench's own. GNU time forks from a tiny process and reports the
	// child's true peak.
	var timeOut string
	if b.timeBin != "" {
		f, err := os.CreateTemp(b.tmpDir(), "time-*.txt")
		if err != nil {
			return m, err
		}
		f.Close()
		timeOut = f.Name()
		defer os.Remove(timeOut)
		args = append([]string{b.timeBin, "-f", "maxrss_kib=%M", "-o", timeOut}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	if cmd.Env == nil {
		cmd.Env = b.baseEnv()
	}
	cmd.Stdin = p.stdin
	cmd.Stdout = p.stdout
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	errTail := &tailBuffer{max: 4096}
	cmd.Stderr = errTail
	cmd.WaitDelay = 5 * time.Second
	b.log.Debug("run", "cmd", shellQuote(p.args), "dir", p.dir)
	start := time.Now()
	err := cmd.Run()
	m.Wall = time.Since(start)
	if cmd.ProcessState != nil {
		m.CPU, m.MaxRSS = usageOf(cmd.ProcessState)
	}
	if timeOut != "" {
		if data, rerr := os.ReadFile(timeOut); rerr == nil {
			if kib, ok := parseTimeRSS(string(data)); ok {
				m.MaxRSS = kib * 1024
			}
		}
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return m, &exitError{Cmd: shellQuote(p.args), Code: ee.ExitCode(), Stderr: errTail.String()}
		}
		return m, fmt.Errorf("%s: %w", shellQuote(p.args), err)
	}
	return m, nil
}

// parseTimeRSS finds "maxrss_kib=N" in GNU time's output file (after a
// possible "Command exited with non-zero status" line).
func parseTimeRSS(s string) (int64, bool) {
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxrss_kib="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// output runs p and returns its standard output.
func (b *bench) output(ctx context.Context, p proc) ([]byte, error) {
	var out bytes.Buffer
	p.stdout = &out
	_, err := b.execute(ctx, p)
	return out.Bytes(), err
}

// baseEnv is the minimal environment of every child: PATH and HOME, and
// the Go settings pinned so that neither this machine's go.env nor the
// user's go/env file changes what a go command does.
func (b *bench) baseEnv() []string {
	return []string{
		"PATH=" + b.cfg.path,
		"HOME=" + b.cfg.home,
		"LC_ALL=C",
	}
}

// goEnv returns the environment of a go command using modcache as its
// module cache and proxy as its mirror chain; extra entries are appended
// and override earlier ones.
func (b *bench) goEnv(modcache, proxy, sumdb, goflags string, extra ...string) []string {
	env := append(b.baseEnv(),
		"GOENV=off",
		"GOPATH="+b.gopath(),
		"GOMODCACHE="+modcache,
		"GOCACHE="+b.goenv.GOCACHE,
		"GOFLAGS="+goflags,
		"GOTOOLCHAIN=local",
		"GOPROXY="+proxy,
		"GOSUMDB="+sumdb,
		"GONOSUMDB=",
		"GONOSUMCHECK=",
		"GOPRIVATE=",
		"GONOPROXY=",
		"GOINSECURE=",
		"GOWORK=off",
	)
	return append(env, extra...)
}

// shellQuote renders args as a command line a reader can paste into sh.
func shellQuote(args []string) string {
	var sb strings.Builder
	for i, a := range args {
		if i > 0 {
			sb.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
		}) < 0 {
			sb.WriteString(a)
			continue
		}
		sb.WriteByte('\'')
		sb.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		sb.WriteByte('\'')
	}
	return sb.String()
}

// ensureTool makes sure the command name is on PATH, installing the Debian
// package pkg with apt-get when it is missing.
func (b *bench) ensureTool(ctx context.Context, name, pkg string) error {
	if _, err := exec.LookPath(name); err == nil {
		return nil
	}
	if _, err := os.Stat(name); err == nil {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s is missing and apt-get is not available: install the package %s", name, pkg)
	}
	if !b.aptUpdated {
		b.log.Info("apt-get update")
		if _, err := b.execute(ctx, proc{args: []string{"apt-get", "update", "-qq"}, env: append(b.baseEnv(), "DEBIAN_FRONTEND=noninteractive")}); err != nil {
			return fmt.Errorf("installing %s: %w", pkg, err)
		}
		b.aptUpdated = true
	}
	b.log.Info("apt-get install", "package", pkg)
	if _, err := b.execute(ctx, proc{args: []string{"apt-get", "install", "-y", "-qq", pkg}, env: append(b.baseEnv(), "DEBIAN_FRONTEND=noninteractive")}); err != nil {
		return fmt.Errorf("installing %s: %w", pkg, err)
	}
	return nil
}
