package testkit

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the fixture projects' go.mod and go.sum with what go mod tidy writes")

// goCmd runs the real go command in dir with the kit's safe environment
// plus extra variables.
func goCmd(t *testing.T, dir string, extra []string, args ...string) ([]byte, error) {
	t.Helper()
	gocache, err := HostGOCACHE(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	work := t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "TMPDIR=" + work}, SafeGoEnv(work, gocache)...)
	cmd.Env = append(cmd.Env, extra...)
	return cmd.CombinedOutput()
}

// TestProjectsTidy checks that the go.mod and go.sum of the fixture projects
// that have a go.sum are what `go mod tidy` writes through the fake upstream
// and checksum database: so the fixtures are consistent, and a later
// `go mod tidy` from a bundle can be required to change nothing.
func TestProjectsTidy(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	db, err := fakesumdb.Start(set, fakesumdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	up.MountSumDB(db.Name(), db.Handler())

	for _, name := range []string{"hello"} {
		t.Run(name, func(t *testing.T) {
			a, err := fixtures.Project(name)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := fixtures.WriteArchive(a, dir); err != nil {
				t.Fatal(err)
			}
			out, err := goCmd(t, dir, []string{"GOPROXY=" + up.URL, "GOSUMDB=" + db.VerifierKey(), "GOFLAGS=-mod=mod -modcacherw"}, "mod", "tidy")
			if err != nil {
				t.Fatalf("go mod tidy: %v\n%s", err, out)
			}
			changed := false
			for i, f := range a.Files {
				if f.Name != "go.mod" && f.Name != "go.sum" {
					continue
				}
				got, err := os.ReadFile(filepath.Join(dir, f.Name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, f.Data) {
					changed = true
					a.Files[i].Data = got
					if !*update {
						t.Errorf("%s: go mod tidy changes %s:\n%s\n(run go test ./internal/testkit -run TestProjectsTidy -update)", name, f.Name, got)
					}
				}
			}
			if *update && changed {
				if err := os.WriteFile(filepath.Join("fixtures", "projects", name+".txt"), txtar.Format(a), 0o666); err != nil {
					t.Fatal(err)
				}
				t.Logf("rewrote %s", name)
			}
		})
	}
}
