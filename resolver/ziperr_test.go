package resolver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// TestZipFetchError: a zip that fails to fetch is named once, with the
// kind, whether the fetcher's error names the module version already (as
// Mirrors.Fetch's do) or not, and a missing zip stays fs.ErrNotExist.
func TestZipFetchError(t *testing.T) {
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	missing := fmt.Errorf("not found: %w", fs.ErrNotExist)
	for _, c := range []struct {
		err  error
		want string
	}{
		{&module.ModuleError{Path: m.Path, Version: m.Version, Err: missing}, "example.com/m@v1.0.0: zip: not found: file does not exist"},
		{missing, "example.com/m@v1.0.0: zip: not found: file does not exist"},
		{&module.ModuleError{Path: "example.com/other", Version: "v1.0.0", Err: missing}, "example.com/m@v1.0.0: zip: example.com/other@v1.0.0: not found: file does not exist"},
	} {
		err := zipFetchError(m, c.err)
		if err.Error() != c.want || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("zipFetchError(%v) = %q (fs.ErrNotExist: %v), want %q, fs.ErrNotExist", c.err, err, errors.Is(err, fs.ErrNotExist), c.want)
		}
	}
}

// TestResolveInfoErrorNamesModuleOnce: an .info the upstream keeps failing
// (a 500, not a missing file, so no gap) fails the resolution with an
// error that names the module version once, then the kind.
func TestResolveInfoErrorNamesModuleOnce(t *testing.T) {
	o := fixtures.GenOptions{Modules: 4, Versions: 1, Seed: 3}
	dir, _, up := generatedProject(t, o)
	if err := up.AddFault(fakeproxy.Fault{Kind: fakeproxy.ServerError, Pattern: "*.info"}); err != nil {
		t.Fatal(err)
	}
	in, err := ParseInput(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMirrors(MirrorConfig{Proxy: up.URL, CacheDir: t.TempDir(), RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(context.Background(), Config{Inputs: []Input{in}, Mirrors: m})
	if err == nil {
		t.Fatal("resolved with .info files that fail with 500")
	}
	msg := err.Error()
	name, _, ok := strings.Cut(msg, ": info: ")
	if !ok || !strings.Contains(name, "@v") || strings.Contains(name, " ") {
		t.Fatalf("error %q: want it to start MODULE@VERSION: info: ", msg)
	}
	if n := strings.Count(msg, name); n != 1 {
		t.Errorf("error %q names %s %d times, want once", msg, name, n)
	}
}
