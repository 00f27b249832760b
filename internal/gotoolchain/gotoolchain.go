// Package gotoolchain owns what gobundle knows of Go toolchains as the go
// command downloads them: the module golang.org/toolchain, whose versions
// name a toolchain and a platform (v0.0.1-go1.27.4.linux-amd64), and the
// go command's rules for which toolchain a go.mod or go.work file, a
// module to install, or a `go@1.N` query switches to (cmd/go's
// toolchain.Select, toolchain.NewerToolchain and gover), written against
// the standard library's go/version.
//
// Versions here are toolchain names with their "go" prefix ("go1.27.4",
// "go1.28rc1"), as go/version takes them; go.mod lines ("1.27.0") are
// turned into names by [FromGoLine].
package gotoolchain

import (
	"errors"
	"fmt"
	"go/version"
	"slices"
	"strings"
)

// ModulePath is the module the go command downloads toolchains as.
const ModulePath = "golang.org/toolchain"

// versionPrefix starts every version of [ModulePath]: the go command asks
// for v0.0.1-<name>.<goos>-<goarch> (cmd/go toolchain.gotoolchainVersion).
const versionPrefix = "v0.0.1-"

// Platform is a GOOS/GOARCH pair.
type Platform struct{ OS, Arch string }

// String returns "os/arch".
func (p Platform) String() string { return p.OS + "/" + p.Arch }

// ParsePlatform parses "os/arch" (as --platform takes it).
func ParsePlatform(s string) (Platform, error) {
	goos, goarch, ok := strings.Cut(s, "/")
	if !ok || !validWord(goos) || !validWord(goarch) {
		return Platform{}, fmt.Errorf("platform %q: want OS/ARCH, such as linux/amd64", s)
	}
	return Platform{OS: goos, Arch: goarch}, nil
}

// validWord reports whether s is a plausible GOOS or GOARCH: lower-case
// letters and digits, which also keeps the module version valid.
func validWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Toolchain is one toolchain build: a name such as "go1.27.4" for a
// platform.
type Toolchain struct {
	Name     string
	Platform Platform
}

// String returns "go1.27.4 linux/amd64".
func (t Toolchain) String() string { return t.Name + " " + t.Platform.String() }

// ModuleVersion returns the version of [ModulePath] that holds t.
func (t Toolchain) ModuleVersion() string {
	return versionPrefix + t.Name + "." + t.Platform.OS + "-" + t.Platform.Arch
}

// Parse returns the toolchain that version vers of [ModulePath] holds; ok is
// false for versions that are not of that form.
func Parse(vers string) (t Toolchain, ok bool) {
	rest, found := strings.CutPrefix(vers, versionPrefix)
	if !found {
		return Toolchain{}, false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		return Toolchain{}, false
	}
	goos, goarch, found := strings.Cut(rest[dot+1:], "-")
	name := rest[:dot]
	if !found || !validWord(goos) || !validWord(goarch) || !version.IsValid(name) {
		return Toolchain{}, false
	}
	return Toolchain{Name: name, Platform: Platform{OS: goos, Arch: goarch}}, true
}

// IsModule reports whether path is the toolchain module.
func IsModule(p string) bool { return p == ModulePath }

// FromGoLine returns the toolchain name of a go line's version ("1.27.0"
// → "go1.27.0"), "" if it is not a valid Go version.
func FromGoLine(v string) string {
	if v == "" || !version.IsValid("go"+v) {
		return ""
	}
	return "go" + v
}

// Canonical turns a --toolchain argument into a toolchain name: "go1.27.4"
// and "1.27.4" give "go1.27.4"; a language version ("1.27", "go1.27")
// stays one, for [Latest] to complete.
func Canonical(arg string) (string, error) {
	name := arg
	if !strings.HasPrefix(name, "go") {
		name = "go" + name
	}
	if !version.IsValid(name) || strings.ContainsAny(name, "-+") || name == "go1" {
		return "", fmt.Errorf("toolchain %q: want a Go version such as go1.27.4, 1.27.4 or 1.27", arg)
	}
	return name, nil
}

// IsLang reports whether name is a language version ("go1.27"), which
// names a family of releases rather than one toolchain.
func IsLang(name string) bool { return version.IsValid(name) && version.Lang(name) == name }

// IsPrerelease reports whether name is a release candidate or beta
// (gover.IsPrerelease).
func IsPrerelease(name string) bool {
	num := strings.TrimPrefix(name, "go")
	num, _, _ = strings.Cut(num, "-")
	return strings.ContainsFunc(num, func(c rune) bool { return c != '.' && (c < '0' || c > '9') })
}

// firstRelease is the first Go version whose go command switches
// toolchains, and from which a language version's first release has a
// ".0" patch number.
const firstRelease = "go1.21"

// ErrInvalid is wrapped by errors about a toolchain line the go command
// refuses.
var ErrInvalid = errors.New("invalid toolchain")

// Select returns the toolchain a go command of version local (a name such
// as "go1.26.8"; "" for one older than every version) switches to under
// GOTOOLCHAIN=auto in a module or workspace whose go.mod or go.work has
// the go line goLine and the toolchain line toolchainLine (either may be
// ""), following cmd/go's toolchain.Select: a toolchain line counts when
// it is newer than local, a go line when it is newer than both, and a
// language version from 1.21 on means its first release (1.27 → go1.27.0).
// It returns "" when the go command stays with local; file names the file
// in errors.
func Select(file, goLine, toolchainLine, local string) (string, error) {
	if toolchainLine == "default" {
		return "", nil // the go command stays with its default toolchain
	}
	target, minVers := "", local
	if toolchainLine != "" {
		if !validName(toolchainLine) {
			return "", fmt.Errorf("%w %q in %s", ErrInvalid, toolchainLine, file)
		}
		if newer(toolchainLine, minVers) {
			target, minVers = toolchainLine, toolchainLine
		}
	}
	if g := FromGoLine(goLine); g != "" && newer(g, minVers) {
		target = g
		if IsLang(g) && version.Compare(g, firstRelease) >= 0 {
			target += ".0"
		}
	}
	if target != "" && version.Compare(target, firstRelease) < 0 {
		// No go command older than 1.21 switches, and none from 1.21 on
		// switches down to one.
		return "", nil
	}
	return target, nil
}

// validName reports whether a toolchain line names a toolchain the go
// command accepts: "go" and a valid version, with an optional suffix after
// "-" and no path separator (gover.FromToolchain).
func validName(name string) bool {
	return strings.HasPrefix(name, "go") && version.IsValid(name) && !strings.ContainsAny(name, "\\/ \t")
}

// newer reports whether x is newer than local ("" is older than all).
func newer(x, local string) bool {
	return local == "" || version.Compare(x, local) > 0
}

// Newer returns the toolchain the go command picks from the mirror's list
// when a module needs at least need (a name) and it must switch (go
// install m@v, go get): among the newest release of each language family
// at or above need, the newest family's unless a newer family already has
// a release, in which case the family before it (cmd/go's
// toolchain.newerToolchain). list holds toolchain names in any order.
func Newer(need string, list []string) (string, error) {
	sorted := slices.Clone(list)
	slices.SortFunc(sorted, version.Compare)
	latest := ""
	for i := len(sorted) - 1; i >= 0; i-- {
		v := sorted[i]
		if version.Compare(v, need) < 0 {
			break
		}
		if version.Lang(latest) == version.Lang(v) {
			continue
		}
		prev := latest
		latest = v
		if prev != "" && !IsPrerelease(prev) {
			break
		}
	}
	if latest == "" {
		return "", fmt.Errorf("no toolchain release listed for go >= %s", strings.TrimPrefix(need, "go"))
	}
	return latest, nil
}

// Latest returns the newest release (no release candidate) of the
// language family lang ("go1.27") in list, "" if it lists none: what
// --toolchain 1.27 means.
func Latest(lang string, list []string) string {
	best := ""
	for _, v := range list {
		if version.Lang(v) != lang || IsLang(v) && version.Compare(v, firstRelease) >= 0 || IsPrerelease(v) {
			continue
		}
		if best == "" || version.Compare(v, best) > 0 {
			best = v
		}
	}
	return best
}

// Names returns the toolchain names in versions (versions of
// [ModulePath], as a mirror's list holds them) built for one of
// platforms, sorted and once each.
func Names(versions []string, platforms []Platform) []string {
	var out []string
	for _, v := range versions {
		t, ok := Parse(strings.TrimSpace(v))
		if ok && slices.Contains(platforms, t.Platform) {
			out = append(out, t.Name)
		}
	}
	slices.SortFunc(out, version.Compare)
	return slices.Compact(out)
}

// Describe lists toolchains for messages: "go1.27.4 (linux/amd64,
// darwin/arm64), go1.26.8 (linux/amd64)", newest first; "none" when
// there are none.
func Describe(ts []Toolchain) string {
	byName := map[string][]string{}
	var names []string
	for _, t := range ts {
		if byName[t.Name] == nil {
			names = append(names, t.Name)
		}
		byName[t.Name] = append(byName[t.Name], t.Platform.String())
	}
	if len(names) == 0 {
		return "none"
	}
	slices.SortFunc(names, func(a, b string) int { return version.Compare(b, a) })
	parts := make([]string, len(names))
	for i, n := range names {
		ps := byName[n]
		slices.Sort(ps)
		parts[i] = n + " (" + strings.Join(slices.Compact(ps), ", ") + ")"
	}
	return strings.Join(parts, ", ")
}
