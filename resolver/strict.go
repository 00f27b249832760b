package resolver

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// checkZipFile checks a downloaded module zip before it is stored, as the
// go command does before a zip enters its module cache (modfetch checks
// it, then hashes it, then renames it in): golang.org/x/mod/zip's rules on
// names and declared sizes, then every entry inflated to the end, which
// archive/zip stops at the size its header declares and checks against
// the CRC-32. A zip bomb whose headers lie about sizes passes the first
// check and fails the second, having cost at most the declared (bounded)
// size.
func checkZipFile(ctx context.Context, m module.Version, name string) error {
	if _, err := modzip.CheckZip(m, name); err != nil {
		return err
	}
	zr, err := zip.OpenReader(name)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
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
