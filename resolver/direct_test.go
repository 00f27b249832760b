package resolver

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ftGoEnv returns the go command and a hermetic environment for "direct".
func ftGoEnv(t *testing.T) (string, []string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// Not t.TempDir: the go command's telemetry may still write under
	// HOME after it exited, which would fail the test's cleanup.
	home, err := os.MkdirTemp("", "gobundle-direct-home")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	return goCmd, []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GOENV=off",
		"GOPATH=" + filepath.Join(home, "gopath"),
		"GOCACHE=" + filepath.Join(home, "gocache"),
		"GOFLAGS=-mod=mod",
		"GOTOOLCHAIN=local",
		"GOSUMDB=off",
		"GONOSUMDB=",
		"GOPRIVATE=",
		"GONOPROXY=",
	}
}

func TestFetchDirect(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	private := ftMakeModule(t, "example.com/private", "v1.0.0")
	public := ftMakeModule(t, "example.com/public", "v1.2.0")
	tree := ftWriteTree(t, private, public)
	s := ftNewServer(t)
	goCmd, env := ftGoEnv(t)
	direct := func(c *MirrorConfig) {
		c.GoCmd, c.GoEnv, c.DirectProxy = goCmd, env, tree
	}
	ctx := context.Background()

	// NoProxy (here through Private) modules go direct only.
	m := ftMirrors(t, s.URL, direct, func(c *MirrorConfig) { c.Private = "example.com/private" })
	for _, kind := range []string{"info", "mod", "zip"} {
		data, f, err := m.ReadFile(ctx, private.path, private.version, kind)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if f.Origin != "direct" {
			t.Errorf("%s: Origin = %q, want direct", kind, f.Origin)
		}
		want := map[string][]byte{"info": nil, "mod": private.mod, "zip": private.zipf}[kind]
		if kind == "info" {
			if !bytes.Contains(data, []byte(`"Version":"v1.0.0"`)) {
				t.Errorf("info = %s", data)
			}
		} else if !bytes.Equal(data, want) {
			t.Errorf("%s differs from the tree's", kind)
		}
	}
	if n := s.total(); n != 0 {
		t.Errorf("proxy saw %d requests for a private module, want 0", n)
	}
	if st := m.Stats(); st.Direct != 2 {
		t.Errorf("Stats().Direct = %d, want 2 go command runs (list for info and mod, download for zip)", st.Direct)
	}
	// A missing private module is not found.
	if _, err := m.Fetch(ctx, "example.com/private/none", "v1.0.0", "mod"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Fetch of a missing private module: %v, want not found", err)
	}

	// "direct" at the end of the chain after a 404.
	m = ftMirrors(t, s.URL+",direct", direct)
	f, err := m.Fetch(ctx, public.path, public.version, "zip")
	if err != nil {
		t.Fatal(err)
	}
	if f.Origin != "direct" {
		t.Errorf("Origin = %q, want direct", f.Origin)
	}
	_, err = m.Fetch(ctx, "example.com/none", "v1.0.0", "info")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "direct") {
		t.Errorf("Fetch of a missing module: %v, want not found, mentioning direct", err)
	}
}
