package serve

import (
	"golang.org/x/mod/module"

	"fmt"

	"github.com/gobundle/gobundle/internal/gotoolchain"
)

// toolchainMiss words the 404 for a golang.org/toolchain version the
// loaded bundles lack (the go command shows its first line under "server
// response:"): the toolchain and platform asked for, and those that are
// bundled, so that whoever sees it knows what to bring next time.
func (v *view) toolchainMiss(vers string) string {
	what := gotoolchain.ModulePath + "@" + vers
	if vers == "" {
		what = "the toolchain list of " + gotoolchain.ModulePath
	}
	if t, ok := gotoolchain.Parse(vers); ok {
		what = "toolchain " + t.String() + " (" + what + ")"
	}
	return fmt.Sprintf("not found: %s is not in the loaded bundles (%s); bundled toolchains: %s",
		what, v.names, gotoolchain.Describe(v.toolchains()))
}

// toolchains returns the toolchains of the view.
func (v *view) toolchains() []gotoolchain.Toolchain {
	me := v.mods[gotoolchain.ModulePath] // needs no escaping
	if me == nil {
		return nil
	}
	var out []gotoolchain.Toolchain
	for _, mv := range me.sorted {
		if t, ok := gotoolchain.Parse(mv.version); ok && mv.zip.ok() {
			out = append(out, t)
		}
	}
	return out
}

// toolchainVersion returns the version a request names ("" for a list or
// @latest), unescaped when it can be.
func toolchainVersion(req request) string {
	if v, err := module.UnescapeVersion(req.escVer); err == nil {
		return v
	}
	return req.escVer
}
