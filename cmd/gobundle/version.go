package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// toolVersion is what `gobundle version` prints and bundles record as
// their tool: the release version set with -ldflags (make build), else the
// module version go install recorded, with the VCS revision of the build
// when the go command stamped one ("+dirty" for uncommitted changes).
func toolVersion() string {
	v := version
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if v == "devel" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " (" + rev + modified + ")"
	}
	return v
}

// VersionCmd is `gobundle version`.
type VersionCmd struct{}

func (c *VersionCmd) Run(e *env) error {
	fmt.Fprintf(e.stdout, "gobundle %s %s %s/%s\n", toolVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
