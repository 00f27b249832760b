package resolver

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"golang.org/x/mod/module"
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
