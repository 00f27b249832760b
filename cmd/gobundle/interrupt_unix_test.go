//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// heavySet returns n module versions (heavy.example.com/mNN@v1.0.0) whose
// zips hold size bytes each of compressible, non-repeating text, so that a
// create spends visible time in every phase: resolve, add, compress, write.
func heavySet(n, size int) *fixtures.Set {
	s := fixtures.NewSet()
	words := strings.Fields("air gap module proxy bundle zstd frame index checksum tile record verify serve unpack mirror graph version")
	for i := range n {
		path := fmt.Sprintf("heavy.example.com/m%02d", i)
		mod := []byte("module " + path + "\n\ngo 1.21\n")
		s.Add(fixtures.NewModule(path, "v1.0.0", mod, nil, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), func() []fixtures.File {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			files := []fixtures.File{{Name: "go.mod", Data: mod}}
			for f := range 4 {
				var b strings.Builder
				fmt.Fprintf(&b, "// Package p%d is generated.\npackage p%d\n\n/*\n", f, f)
				for b.Len() < size/4 {
					b.WriteString(words[rng.IntN(len(words))])
					if rng.IntN(12) == 0 {
						fmt.Fprintf(&b, " %d\n", rng.Uint64())
					} else {
						b.WriteByte(' ')
					}
				}
				b.WriteString("\n*/\n")
				files = append(files, fixtures.File{Name: fmt.Sprintf("p%d/p.go", f), Data: []byte(b.String())})
			}
			return files
		}))
	}
	return s
}

// TestCreateInterruptAnyMoment sends SIGINT to `gobundle create` at random
// moments of 20 runs, each with a fresh cache so that every phase (resolve,
// add, compress, write) is met: each run ends within 2 s of the signal
// with exit 1 and the documented message, and leaves no file beside the
// output nor in GOBUNDLE_TMPDIR.
func TestCreateInterruptAnyMoment(t *testing.T) {
	if testing.Short() {
		t.Skip("20 creates")
	}
	bin, err := exec.LookPath("gobundle") // testscript's copy of this test binary
	if err != nil {
		t.Fatal(err)
	}
	gocache, err := testkit.HostGOCACHE(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	set := heavySet(12, 2<<20)
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	db, err := fakesumdb.Start(set, fakesumdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	up.MountSumDB(db.Name(), db.Handler())

	work := t.TempDir()
	proj := filepath.Join(work, "proj")
	gomod := "module example.com/heavyuser\n\ngo 1.21\n\nrequire (\n"
	for _, m := range set.Modules() {
		gomod += "\t" + m.Path + " " + m.Version + "\n"
	}
	gomod += ")\n"
	if err := os.MkdirAll(proj, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "go.mod"), []byte(gomod), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := set.WriteGoSum(proj); err != nil {
		t.Fatal(err)
	}
	environ := append(testkit.SafeGoEnv(work, gocache), "PATH="+os.Getenv("PATH"), "HOME="+work,
		"GOPROXY="+up.URL, "GOSUMDB="+db.VerifierKey(), "GOROOT="+os.Getenv("GOROOT"))

	// createRun starts one create with fresh output, spool and cache
	// directories.
	type createRun struct {
		cmd        *exec.Cmd
		out, spool string
		stderr     strings.Builder
	}
	start := func(i int) *createRun {
		r := &createRun{out: filepath.Join(work, fmt.Sprintf("out%d", i)), spool: filepath.Join(work, fmt.Sprintf("tmp%d", i))}
		for _, d := range []string{r.out, r.spool} {
			if err := os.MkdirAll(d, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		r.cmd = exec.Command(bin, "create", "-o", filepath.Join(r.out, "h.gobundle"),
			"--cache", filepath.Join(work, fmt.Sprintf("cache%d", i)), "--level", "better", proj)
		r.cmd.Env = append(environ, "GOBUNDLE_TMPDIR="+r.spool)
		r.cmd.Stderr = &r.stderr
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return r
	}

	// A whole create, for its duration.
	t0 := time.Now()
	full := start(0)
	if err := full.cmd.Wait(); err != nil {
		t.Fatalf("create: %v\n%s", err, full.stderr.String())
	}
	whole := time.Since(t0)
	t.Logf("a whole create takes %v", whole)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	interrupted := 0
	for i := 1; i <= 20; i++ {
		delay := time.Duration(rng.Int64N(int64(whole)))
		r := start(i)
		time.Sleep(delay)
		sent := time.Now()
		if err := r.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(2 * time.Second):
			r.cmd.Process.Signal(syscall.SIGQUIT)
			<-done
			t.Fatalf("run %d: SIGINT after %v: still running 2 s later; stderr:\n%s", i, delay, r.stderr.String())
		}
		took := time.Since(sent)
		var ee *exec.ExitError
		switch {
		case err == nil:
			// Done before the signal arrived: the bundle must be whole.
			t.Logf("run %d: SIGINT after %v: create had finished", i, delay)
			if _, err := os.Stat(filepath.Join(r.out, "h.gobundle")); err != nil {
				t.Errorf("run %d: exit 0 but %v", i, err)
			}
			continue
		case !errors.As(err, &ee) || ee.ExitCode() != 1:
			t.Errorf("run %d: SIGINT after %v: %v, want exit 1; stderr:\n%s", i, delay, err, r.stderr.String())
		case !strings.Contains(r.stderr.String(), "gobundle: create: interrupted; "+filepath.Join(r.out, "h.gobundle")+" not written"):
			t.Errorf("run %d: SIGINT after %v: stderr lacks the interrupted message:\n%s", i, delay, r.stderr.String())
		}
		interrupted++
		t.Logf("run %d: SIGINT after %v, during %q: exit in %v", i, delay, phaseOf(r.stderr.String()), took)
		for _, d := range []string{r.out, r.spool} {
			ents, err := os.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				t.Errorf("run %d: SIGINT after %v left %s", i, delay, filepath.Join(d, e.Name()))
			}
		}
	}
	if interrupted < 15 {
		t.Errorf("only %d of 20 creates were interrupted before they finished", interrupted)
	}
}

// phaseOf returns the label of the last progress line in a create's
// standard error: where it was when interrupted.
func phaseOf(stderr string) string {
	phase := "start"
	for _, line := range strings.Split(stderr, "\n") {
		if label, _, ok := strings.Cut(line, ": "); ok && label != "gobundle" {
			phase = label
		}
	}
	return phase
}
