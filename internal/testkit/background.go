package testkit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// A BackgroundProcess is a command a script started in the background.
type BackgroundProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder // stdout and stderr lines
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// lockedWriter appends to p.out.
type lockedWriter struct{ p *BackgroundProcess }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// lookPath finds name in the script's PATH.
func lookPath(ts *testscript.TestScript, name string) (string, error) {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		for _, ext := range []string{"", ".exe"} {
			p := filepath.Join(dir, name+ext)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("testkit: %s not found in the script's PATH", name)
}

// StartBackground starts name (looked up in the script's PATH) with args in
// the script's directory and environment (the variables the kit knows of:
// PATH, HOME, TMPDIR, WORK and the go command's), and waits up to timeout
// for a line of its standard output that begins with readyPrefix. It
// returns the process and the first field of that line after the prefix.
// The process is not stopped at the end of the script unless the caller
// arranges it (the serve command does).
func StartBackground(ts *testscript.TestScript, name string, args []string, readyPrefix string, timeout time.Duration) (*BackgroundProcess, string, error) {
	exe, err := lookPath(ts, name)
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = ts.MkAbs(".")
	for _, k := range envKeys() {
		if v := ts.Getenv(k); v != "" || k == "GONOSUMDB" || k == "GOPRIVATE" || k == "GONOPROXY" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	p := &BackgroundProcess{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = lockedWriter{p}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("testkit: start %s: %w", name, err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			lockedWriter{p}.Write([]byte(line + "\n"))
			if !found && strings.HasPrefix(line, readyPrefix) {
				found = true
				f := strings.Fields(strings.TrimPrefix(line, readyPrefix))
				v := ""
				if len(f) > 0 {
					v = f[0]
				}
				ready <- v
			}
		}
		io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case v := <-ready:
		return p, v, nil
	case <-p.done:
		return nil, "", fmt.Errorf("testkit: %s %s exited before printing %q: %v\n%s", name, strings.Join(args, " "), readyPrefix, p.err, p.Output())
	case <-t.C:
		p.Stop(time.Second)
		return nil, "", fmt.Errorf("testkit: %s %s printed no %q line within %v\n%s", name, strings.Join(args, " "), readyPrefix, timeout, p.Output())
	}
}

// Output returns what the process wrote so far (stdout and stderr).
func (p *BackgroundProcess) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Stop asks the process to stop (SIGTERM; a kill where signals don't
// exist), kills it after grace, and returns its exit error (nil for a clean
// exit on the signal).
func (p *BackgroundProcess) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.cmd.Process.Kill()
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
		return errors.New("did not stop within " + grace.String() + " of SIGTERM; killed")
	}
}
