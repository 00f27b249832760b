package resolver

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
)

// checkZipFile ends the check of a downloaded module zip whose names and
// declared sizes golang.org/x/mod/zip's checks passed (see
// [Mirrors.storeZip]), as the go command does before a zip enters its
// module cache (modfetch checks it, then hashes it, then renames it in):
// every file is inflated to its end, which archive/zip stops at the size
// its header declares and checks against the CRC-32. A zip bomb whose
// headers lie about sizes passes the first check and fails this one,
// having cost at most the declared (bounded) size. The same read computes
// the zip's go.sum hash, which it returns.
func checkZipFile(ctx context.Context, m module.Version, name string) (string, error) {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return "", err
	}
	defer zr.Close()
	names := make([]string, len(zr.File))
	byName := make(map[string]*zip.File, len(zr.File))
	for i, f := range zr.File {
		names[i] = f.Name
		byName[f.Name] = f
	}
	return dirhash.Hash1(names, func(n string) (io.ReadCloser, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f := byName[n]
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		return &namedReader{rc, f.Name}, nil
	})
}

// namedReader is a zip file's reader whose errors name the file.
type namedReader struct {
	io.ReadCloser
	name string
}

func (r *namedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", r.name, err)
	}
	return n, err
}

// strictVersion is the modfile.VersionFixer for the go.mod and go.work
// files of the inputs. Without a fixer, modfile turns a non-canonical
// version such as "v1.1" into "v1.1.0"; the go command instead looks it up
// as a query (the highest v1.1.x), rewrites go.mod, and refuses under
// -mod=readonly. A bundle built from a guess would hold another version
// than the build uses, so the input is refused and the user asked to let
// the go command settle it.
func strictVersion(path, vers string) (string, error) {
	if vers == "" || module.CanonicalVersion(vers) == vers {
		return vers, nil
	}
	if module.CanonicalVersion(vers) == "" {
		// modfile's own words for a version it cannot canonicalize.
		return "", &module.ModuleError{Path: path, Err: &module.InvalidVersionError{Version: vers, Err: errors.New("must be of the form v1.2.3")}}
	}
	return "", &module.ModuleError{Path: path, Err: &module.InvalidVersionError{Version: vers,
		Err: fmt.Errorf("not canonical (should be %q), and the go command would look it up as a query and rewrite this file: run go mod tidy first", module.CanonicalVersion(vers))}}
}
