package resolver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/rogpeppe/go-internal/txtar"
)

// TestResolveGenerated resolves a generated graph through the kit's fake
// upstream and the real fetch layer: every module version of the full graph
// is bundled, zips only for the build list, every hash matches go.sum.
func TestResolveGenerated(t *testing.T) {
	o := fixtures.GenOptions{Modules: 50, Versions: 4, Seed: 7}
	dir, set, up := generatedProject(t, o)
	res := resolveGenerated(t, dir, up.URL, t.TempDir())
	st := res.Stats
	if st.Modules != set.Len() || st.Zips != o.Modules || st.Nodes != set.Len() || st.GoSumChecks != set.Len()+o.Modules {
		t.Errorf("stats = %+v, want %d module versions, %d zips, all checked with go.sum", st, set.Len(), o.Modules)
	}
	for _, mod := range res.Modules {
		want, ok := set.Lookup(mod.Path, mod.Version)
		if !ok {
			t.Fatalf("%s@%s: not in the generated set", mod.Path, mod.Version)
		}
		if h, _ := want.ModHash(); h != mod.ModHash || !mod.GoSum {
			t.Errorf("%s@%s: go.mod hash %s, want %s (go.sum matched: %v)", mod.Path, mod.Version, mod.ModHash, h, mod.GoSum)
		}
	}
}

// TestBuildListMatchesGoCommand checks the build list the resolver computes
// for the zips against the real go command's `go list -m all`, on the kit's
// fixture projects (replace, exclude, local replace, workspace) and on
// generated graphs with random extra edges, where pruning matters.
func TestBuildListMatchesGoCommand(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("go command not found: %v", err)
	}
	all, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	gens := []fixtures.GenOptions{{Modules: 40, Versions: 4, Seed: 3, ExtraDeps: 3}, {Modules: 25, Versions: 5, Seed: 11, ExtraDeps: 4}, {Modules: 60, Versions: 3, Seed: 5, ExtraDeps: 6}}
	set := fixtures.NewSet().Merge(all)
	for _, o := range gens {
		set.Merge(fixtures.Generate(o))
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()

	type project struct {
		name string
		arch *txtar.Archive
	}
	var projects []project
	for _, name := range []string{"hello", "work"} {
		a, err := fixtures.Project(name)
		if err != nil {
			t.Fatal(err)
		}
		projects = append(projects, project{name, a})
	}
	for i, o := range gens {
		projects = append(projects, project{fmt.Sprintf("gen%d", i), fixtures.GenProject(o)})
	}
	for _, pr := range projects {
		t.Run(pr.name, func(t *testing.T) {
			work := t.TempDir()
			dir := filepath.Join(work, "proj")
			if err := fixtures.WriteArchive(pr.arch, dir); err != nil {
				t.Fatal(err)
			}
			if err := set.WriteGoSum(dir); err != nil {
				t.Fatal(err)
			}
			goCmd := func(args ...string) []byte {
				t.Helper()
				cmd := exec.Command("go", args...)
				cmd.Dir = dir
				cmd.Env = append(testkit.SafeGoEnv(work, ""), "PATH="+os.Getenv("PATH"), "HOME="+work, "GOPROXY="+up.URL)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			if strings.HasPrefix(pr.name, "gen") {
				// A generated go.mod may require versions below those
				// selected: make it consistent, as a real project's is.
				goCmd("mod", "tidy")
			}
			m, err := NewMirrors(MirrorConfig{Proxy: up.URL, CacheDir: filepath.Join(work, "cache")})
			if err != nil {
				t.Fatal(err)
			}
			in, err := ParseInput(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			p, err := loadProject(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			g, err := walk(context.Background(), p, newLoader(m, nil, slog.New(slog.DiscardHandler)), 8, nil)
			if err != nil {
				t.Fatal(err)
			}
			var ours []string
			for _, mv := range g.prunedBuildList(p, p.workspace) {
				ours = append(ours, mv.Path+" "+mv.Version)
			}

			out := goCmd("list", "-m", "-f", "{{if not .Main}}{{.Path}} {{.Version}}{{end}}", "all")
			var theirs []string
			for _, line := range strings.Split(string(out), "\n") {
				if line = strings.TrimSpace(line); line != "" {
					theirs = append(theirs, line)
				}
			}
			slices.Sort(ours)
			slices.Sort(theirs)
			if !slices.Equal(ours, theirs) {
				t.Errorf("build list differs from go list -m all:\n ours   %q\n theirs %q", ours, theirs)
			}
			if len(ours) == 0 {
				t.Error("empty build list")
			}
		})
	}
}
