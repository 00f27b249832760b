//go:build unix

package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// TestUnpackModesForOtherUsers: under umask 022, unpack writes files 0644
// and directories 0755, so that a user other than the one who unpacked
// (nobody, through setpriv) builds the hello project with
// GOPROXY=file://DIR, as README says.
func TestUnpackModesForOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the go command as another user (make test runs as root)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv(1) is missing: make test-deps installs util-linux")
	}
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	// Under a directory every user may enter, not t.TempDir's 0700.
	work, err := os.MkdirTemp("", "gobundle-unpack-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(work, "hello")
	if err := fixtures.WriteProject("hello", proj); err != nil {
		t.Fatal(err)
	}
	getenv := kitGetenv(work, up.URL)
	ctx := context.Background()
	b := filepath.Join(work, "h.gobundle")
	tree := filepath.Join(work, "goproxy")
	for _, args := range [][]string{
		{"create", "-q", "--cache", filepath.Join(work, "cache"), "-o", b, proj},
		{"unpack", "-q", b, tree},
	} {
		var stdout, stderr strings.Builder
		if code := run(ctx, args, &stdout, &stderr, getenv); code != 0 {
			t.Fatalf("gobundle %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
		}
	}
	files := 0
	err = filepath.WalkDir(tree, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Stat(name)
		if err != nil {
			return err
		}
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = 0o755 | fs.ModeDir
		} else {
			files++
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, st.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("unpack wrote only %d files", files)
	}

	// nobody builds from the tree, with a module and build cache of its own.
	home := filepath.Join(work, "nobody")
	if err := os.Mkdir(home, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o777); err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", goBin, "build", "-o", os.DevNull, "./...")
	cmd.Dir = proj
	cmd.Env = append(testkit.SafeGoEnv(home, ""), "HOME="+home, "PATH="+os.Getenv("PATH"),
		"GOPROXY=file://"+filepath.ToSlash(tree), "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build as nobody with GOPROXY=file://%s: %v\n%s", tree, err, out)
	}
}
