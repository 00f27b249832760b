package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// TestLatestAsGoCommand resolves module@latest for every fixture module
// path and compares with what the go command itself picks through the
// same fake proxy (releases, prereleases, +incompatible, retractions,
// pseudo-versions only through @latest).
func TestLatestAsGoCommand(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	m := ftMirrors(t, up.URL)
	ctx := context.Background()
	seen := map[string]bool{}
	gopath := t.TempDir()
	for _, mod := range set.Modules() {
		if seen[mod.Path] {
			continue
		}
		seen[mod.Path] = true
		got, err := m.Latest(ctx, mod.Path)
		cmd := exec.Command(goCmd, "list", "-m", "-json", mod.Path+"@latest")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "GOENV=off", "GOPROXY="+up.URL, "GOSUMDB=off", "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local",
			"GOPATH="+gopath, "GOMODCACHE="+filepath.Join(gopath, "mod"), "GOPRIVATE=", "GONOPROXY=", "GOWORK=off")
		out, goErr := cmd.Output()
		var want struct{ Version string }
		json.Unmarshal(out, &want)
		switch {
		case goErr != nil && err == nil:
			t.Errorf("%s@latest: gobundle %s, the go command fails", mod.Path, got)
		case goErr == nil && err != nil:
			t.Errorf("%s@latest: gobundle: %v, the go command: %s", mod.Path, err, want.Version)
		case got != want.Version:
			t.Errorf("%s@latest: gobundle %s, the go command %s", mod.Path, got, want.Version)
		}
	}
	if _, err := m.Latest(ctx, "example.com/nothere"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing module: %v", err)
	}
}

func TestChooseLatest(t *testing.T) {
	for _, tc := range []struct {
		list, retracted, want string
	}{
		{"v1.0.0 v1.2.0 v1.10.0-rc.1", "", "v1.2.0"},
		{"v1.0.0 v1.2.0", "v1.2.0", "v1.0.0"},
		{"v1.0.0-rc.1 v1.0.0-beta.1", "", "v1.0.0-rc.1"},
		{"v1.0.0", "v1.0.0", ""},
	} {
		ex := func(v string) bool { return strings.Contains(" "+tc.retracted+" ", " "+v+" ") }
		if got := chooseLatest(strings.Fields(tc.list), ex); got != tc.want {
			t.Errorf("%s minus %s: %s, want %s", tc.list, tc.retracted, got, tc.want)
		}
	}
}

// TestResolveQueries: listed inputs that no mirror has are left out as
// gaps, unless strict; a command-line module input is an error.
func TestResolveQueries(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	m := ftMirrors(t, up.URL)
	ctx := context.Background()
	parse := func(arg string, listed bool) Input {
		in, err := ParseInput(arg, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		in.Listed = listed
		return in
	}
	ins := []Input{parse("example.com/b@latest", true), parse("example.com/a@v1.0.0", true), parse("example.com@latest", true),
		parse("example.com/a/nothere@v1.0.0", true)}
	out, choices, gaps, err := ResolveQueries(ctx, m, ins, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Module.String() != "example.com/b@v1.2.0" || out[1].Module.String() != "example.com/a@v1.0.0" {
		t.Fatalf("inputs %v", out)
	}
	if len(choices) != 1 || choices[0] != (Choice{Query: "example.com/b@latest", Version: "v1.2.0"}) {
		t.Fatalf("choices %v", choices)
	}
	if len(gaps) != 2 || gaps[0].Path != "example.com" || gaps[0].Version != "latest" || gaps[1].Path != "example.com/a/nothere" {
		t.Fatalf("gaps %v", gaps)
	}
	if _, _, _, err := ResolveQueries(ctx, m, ins, true); err == nil || !strings.Contains(err.Error(), "example.com@latest") {
		t.Fatalf("strict: %v", err)
	}
	if _, _, _, err := ResolveQueries(ctx, m, []Input{parse("example.com/nothere@latest", false)}, false); err == nil {
		t.Fatal("command-line query of a missing module: no error")
	}
}
