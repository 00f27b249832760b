//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/repro"
	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/gobundle/gobundle/internal/testkit/tally"
)

// faultKit is an upstream with a checksum database over a set of heavy
// module versions, and a project requiring them all.
type faultKit struct {
	set  *fixtures.Set
	db   *fakesumdb.DB
	work string
	proj string
}

func newFaultKit(t *testing.T, n, size int) *faultKit {
	t.Helper()
	set := heavySet(n, size)
	db, err := fakesumdb.Start(set, fakesumdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	work := t.TempDir()
	return &faultKit{set: set, db: db, work: work, proj: writeHeavyProject(t, work, set)}
}

// upstream starts a fake upstream with seed, serving k's checksum database.
func (k *faultKit) upstream(t *testing.T, seed uint64) *fakeproxy.Server {
	up := fakeproxy.Start(k.set, seed)
	t.Cleanup(up.Close)
	up.MountSumDB(k.db.Name(), k.db.Handler())
	return up
}

// create runs gobundle create of k's project through up in-process.
func (k *faultKit) create(t *testing.T, up *fakeproxy.Server, out, cache string, extra ...string) (int, string) {
	t.Helper()
	env := kitGetenv(k.work, up.URL)
	getenv := func(v string) string {
		if v == "GOSUMDB" {
			return k.db.VerifierKey()
		}
		return env(v)
	}
	args := append([]string{"create", "-q", "-o", out, "--cache", cache, "--jobs", "4"}, extra...)
	var stdout, stderr strings.Builder
	code := run(context.Background(), append(args, k.proj), &stdout, &stderr, getenv)
	return code, stderr.String()
}

// servedDigest is the content digest of the bundle name: what a bundle serves, whatever mirror it came from.
func servedDigest(t *testing.T, name string) string {
	t.Helper()
	r, err := bundle.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := repro.ContentDigest(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestCreateUnderRandomUpstreamFaults: with seeded random faults on every
// kind of request (5xx, resets, truncations, wrong bytes, stalls) and 5xx
// storms, each create either writes a bundle serving exactly what a
// create without faults serves, or fails with one clear line and writes no
// file; after a failure, a create without faults from the same download
// cache gives the right bundle (the cache kept nothing wrong).
func TestCreateUnderRandomUpstreamFaults(t *testing.T) {
	k := newFaultKit(t, 6, 64<<10)
	ref := filepath.Join(k.work, "ref.gobundle")
	if code, stderr := k.create(t, k.upstream(t, 1), ref, filepath.Join(k.work, "refcache")); code != 0 {
		t.Fatalf("reference create: exit %d: %s", code, stderr)
	}
	want := servedDigest(t, ref)
	type run struct {
		name   string
		seed   uint64
		faults []fakeproxy.Fault
	}
	// Wrong bytes only where a checksum covers them: an .info file has
	// none anywhere (not in go.sum, not in the checksum database), so a
	// flipped digit of its Time is as invisible to create as to the go
	// command; the test would see it as a different bundle.
	transport := []fakeproxy.Kind{fakeproxy.ServerError, fakeproxy.Reset, fakeproxy.Truncate, fakeproxy.Latency}
	random := []fakeproxy.Fault{
		{Kind: fakeproxy.Random, Prob: 0.25, Delay: 300 * time.Millisecond, Kinds: transport},
		{Kind: fakeproxy.Corrupt, Prob: 0.1, Pattern: "*.mod"},
		{Kind: fakeproxy.Corrupt, Prob: 0.1, Pattern: "*.zip"},
		{Kind: fakeproxy.Corrupt, Prob: 0.1, Pattern: "/sumdb/*"},
	}
	var runs []run
	for seed := uint64(1); seed <= 8; seed++ {
		runs = append(runs, run{fmt.Sprintf("random-seed-%d", seed), seed, random})
	}
	runs = append(runs,
		run{"5xx-storm-passes", 1, []fakeproxy.Fault{{Kind: fakeproxy.ServerError, First: 2}}},
		run{"5xx-storm-outlasts-retries", 1, []fakeproxy.Fault{{Kind: fakeproxy.ServerError, Pattern: "*.zip"}}},
		run{"resets-and-truncations", 3, []fakeproxy.Fault{{Kind: fakeproxy.Random, First: 1, Kinds: []fakeproxy.Kind{fakeproxy.Reset, fakeproxy.Truncate}}}},
	)
	var ok, failed int
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			up := k.upstream(t, r.seed)
			for _, f := range r.faults {
				if err := up.AddFault(f); err != nil {
					t.Fatal(err)
				}
			}
			dir := filepath.Join(k.work, r.name)
			out, cache := filepath.Join(dir, "out", "x.gobundle"), filepath.Join(dir, "cache")
			os.MkdirAll(filepath.Dir(out), 0o777)
			code, stderr := k.create(t, up, out, cache, "--retries", "4")
			faults := 0
			for _, req := range up.Requests() {
				if req.Fault != "" {
					faults++
				}
			}
			tally.Add(t, tally.Faults, int64(faults))
			t.Logf("%d faults in %d requests: exit %d %s", faults, len(up.Requests()), code, strings.TrimSpace(stderr))
			switch code {
			case 0:
				ok++
				if got := servedDigest(t, out); got != want {
					t.Errorf("bundle under faults serves %s, want %s", got, want)
					tally.Add(t, tally.Wrong, 1)
				}
			case 1:
				failed++
				tally.Add(t, tally.Errors, 1)
				// The last line is the error; the failures of other module
				// versions met meanwhile are logged before it, one a line.
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				if !strings.HasPrefix(lines[len(lines)-1], "gobundle: ") {
					t.Errorf("want an error line last, got:\n%s", stderr)
				}
				if left := dirNames(t, filepath.Dir(out)); len(left) > 0 {
					t.Errorf("a failed create left %v", left)
					tally.Add(t, tally.Lost, 1)
				}
				// The cache kept nothing wrong: without faults it completes.
				up.ClearFaults()
				if code, stderr := k.create(t, up, out, cache); code != 0 {
					t.Fatalf("create after the faults, same cache: exit %d: %s", code, stderr)
				}
				if got := servedDigest(t, out); got != want {
					t.Errorf("bundle from the cache the faults left serves %s, want %s", got, want)
					tally.Add(t, tally.Wrong, 1)
				}
			default:
				t.Errorf("exit %d: %s", code, stderr)
			}
		})
	}
	t.Logf("%d creates succeeded under faults, %d failed cleanly", ok, failed)
	if ok == 0 || failed == 0 {
		t.Errorf("%d succeeded, %d failed: the faults test neither outcome", ok, failed)
	}
}

// sameFile reports whether two files hold the same bytes.
func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(da, db)
}

var _ = testkit.SafeGoEnv

// mountTmpfs mounts a tmpfs of size bytes on a new directory for the test,
// or skips the test saying why when this machine does not allow it.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("disk-full tests need to mount a small tmpfs (root on Linux): mount: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// growTmpfs gives the tmpfs at dir size bytes.
func growTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("remount %s: %v", dir, err)
	}
}

// TestDiskFull: a disk that fills up during create (the bundle, or the
// download cache), pack and unpack gives a clear error naming no space,
// leaves nothing half-written where the output would be, and the download
// cache stays valid: the next create from it, with room, writes the right
// bundle.
func TestDiskFull(t *testing.T) {
	k := newFaultKit(t, 6, 256<<10)
	up := k.upstream(t, 1)
	ref := filepath.Join(k.work, "ref.gobundle")
	cache := filepath.Join(k.work, "cache")
	if code, stderr := k.create(t, up, ref, filepath.Join(k.work, "refcache")); code != 0 {
		t.Fatalf("reference create: exit %d: %s", code, stderr)
	}
	st, _ := os.Stat(ref)
	small := st.Size() / 3
	want := servedDigest(t, ref)
	noSpace := func(t *testing.T, what string, code int, stderr, dir string) {
		t.Helper()
		tally.Add(t, tally.Faults, 1)
		if code != 1 || !strings.Contains(stderr, "no space left on device") {
			t.Errorf("%s on a full disk: exit %d, stderr:\n%s", what, code, stderr)
		} else {
			tally.Add(t, tally.Errors, 1)
		}
		var left []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && p != dir {
				left = append(left, p)
			}
			return nil
		})
		if len(left) > 0 {
			t.Errorf("%s on a full disk left %v", what, left)
			tally.Add(t, tally.Lost, 1)
		}
	}

	t.Run("create-output", func(t *testing.T) {
		full := mountTmpfs(t, small)
		code, stderr := k.create(t, up, filepath.Join(full, "x.gobundle"), cache)
		noSpace(t, "create", code, stderr, full)
		out := filepath.Join(k.work, "after-full.gobundle")
		if code, stderr := k.create(t, up, out, cache); code != 0 {
			t.Fatalf("create from the cache after the full disk: exit %d: %s", code, stderr)
		}
		if got := servedDigest(t, out); got != want {
			t.Errorf("create after a full disk serves %s, want %s", got, want)
			tally.Add(t, tally.Wrong, 1)
		}
	})
	t.Run("create-cache", func(t *testing.T) {
		full := mountTmpfs(t, 256<<10)
		outDir := filepath.Join(k.work, "cache-full-out")
		os.Mkdir(outDir, 0o777)
		code, stderr := k.create(t, up, filepath.Join(outDir, "x.gobundle"), filepath.Join(full, "cache"))
		tally.Add(t, tally.Faults, 1)
		if code != 1 || !strings.Contains(stderr, "no space left on device") {
			t.Fatalf("create with a full cache disk: exit %d, stderr:\n%s", code, stderr)
		}
		tally.Add(t, tally.Errors, 1)
		if left := dirNames(t, outDir); len(left) > 0 {
			t.Errorf("create with a full cache disk left %v", left)
		}
		// What the cache kept is right: with room, it completes from it.
		growTmpfs(t, full, 64<<20)
		out := filepath.Join(outDir, "x.gobundle")
		if code, stderr := k.create(t, up, out, filepath.Join(full, "cache")); code != 0 {
			t.Fatalf("create after the cache disk got room: exit %d: %s", code, stderr)
		}
		if got := servedDigest(t, out); got != want {
			t.Errorf("create from a cache that filled up serves %s, want %s", got, want)
			tally.Add(t, tally.Wrong, 1)
		}
	})
	tree := filepath.Join(k.work, "tree")
	t.Run("unpack", func(t *testing.T) {
		full := mountTmpfs(t, small)
		var stdout, stderr strings.Builder
		code := run(context.Background(), []string{"unpack", ref, filepath.Join(full, "tree")}, &stdout, &stderr, func(string) string { return "" })
		noSpace(t, "unpack", code, stderr.String(), full)
		if code := run(context.Background(), []string{"unpack", "-q", ref, tree}, &stdout, &stderr, func(string) string { return "" }); code != 0 {
			t.Fatalf("unpack with room: %s", stderr.String())
		}
	})
	t.Run("pack", func(t *testing.T) {
		full := mountTmpfs(t, small)
		var stdout, stderr strings.Builder
		code := run(context.Background(), []string{"pack", "-q", "--sumdb", k.db.VerifierKey(), tree, "-o", filepath.Join(full, "p.gobundle")}, &stdout, &stderr, func(string) string { return "" })
		noSpace(t, "pack", code, stderr.String(), full)
	})
}

// TestCreateSIGKILLResumes kills `gobundle create` with SIGKILL at seeded
// random moments (no chance to clean up): no bundle appears at the output
// path, and the next create from the same download cache downloads only
// what the killed one had not stored and writes the identical bundle.
func TestCreateSIGKILLResumes(t *testing.T) {
	bin, err := exec.LookPath("gobundle") // testscript's copy of this test binary
	if err != nil {
		t.Fatal(err)
	}
	gocache, err := testkit.HostGOCACHE(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := newFaultKit(t, 10, 1<<20)
	up := k.upstream(t, 1)
	// Slow zips, so that kills land while downloading as well as after.
	if err := up.AddFault(fakeproxy.Fault{Kind: fakeproxy.Latency, Pattern: "*.zip", Delay: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	env := append(testkit.SafeGoEnv(k.work, gocache), "PATH="+os.Getenv("PATH"), "HOME="+k.work,
		"GOPROXY="+up.URL, "GOSUMDB="+k.db.VerifierKey())
	create := func(out, cache string) *exec.Cmd {
		cmd := exec.Command(bin, "create", "-q", "-o", out, "--cache", cache, "--jobs", "2", k.proj)
		cmd.Env = env
		return cmd
	}
	ref := filepath.Join(k.work, "ref.gobundle")
	if out, err := create(ref, filepath.Join(k.work, "refcache")).CombinedOutput(); err != nil {
		t.Fatalf("reference create: %v\n%s", err, out)
	}
	rng := rand.New(rand.NewPCG(20, 1))
	for i := range 4 {
		dir := filepath.Join(k.work, fmt.Sprintf("run%d", i))
		out, cache := filepath.Join(dir, "out", "x.gobundle"), filepath.Join(dir, "cache")
		os.MkdirAll(filepath.Dir(out), 0o777)
		cmd := create(out, cache)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
		cmd.Process.Kill()
		err := cmd.Wait()
		tally.Add(t, tally.Faults, 1)
		killed := err != nil
		if _, serr := os.Stat(out); killed && serr == nil {
			t.Errorf("run %d: a killed create left a bundle at %s", i, out)
			tally.Add(t, tally.Wrong, 1)
		}
		before := len(up.Requests())
		if msg, err := create(out, cache).CombinedOutput(); err != nil {
			t.Fatalf("run %d: create after SIGKILL: %v\n%s", i, err, msg)
		}
		if !sameFile(t, ref, out) {
			t.Errorf("run %d: create after SIGKILL wrote a different bundle", i)
			tally.Add(t, tally.Wrong, 1)
		}
		left := dirNames(t, filepath.Dir(out))
		if len(left) != 1 {
			t.Errorf("run %d: beside the bundle: %v", i, left)
		}
		t.Logf("run %d: killed=%v, the rerun made %d requests", i, killed, len(up.Requests())-before)
	}
}
