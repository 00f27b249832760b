package resolver

import (
	"errors"
	"fmt"

	"golang.org/x/mod/module"
)

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
