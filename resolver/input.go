package resolver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// InputKind says what an [Input] names.
type InputKind int

// The kinds of inputs.
const (
	// InputGoMod is a go.mod file, named directly or through its directory.
	InputGoMod InputKind = iota + 1
	// InputWork is a go.work file: every module it uses is a main module.
	InputWork
	// InputModule is module@version: its go.mod is fetched from the mirrors
	// and it is resolved as if it were a main module (as go install M@V does),
	// and its own files are bundled.
	InputModule
)

func (k InputKind) String() string {
	switch k {
	case InputGoMod:
		return "go.mod"
	case InputWork:
		return "go.work"
	case InputModule:
		return "module"
	}
	return fmt.Sprintf("InputKind(%d)", int(k))
}

// Input is one thing to bundle the dependencies of.
type Input struct {
	Arg    string         // as the user gave it
	Kind   InputKind      // what it names
	File   string         // absolute path of the go.mod or go.work file; "" for InputModule
	Module module.Version // for InputModule; Version is "" while Query is unresolved
	// Query is "latest" for module@latest, resolved at create time
	// ([Mirrors.Latest]) into Module.Version; "" otherwise.
	Query string
	// Listed reports that the input came from a --from list, which may be
	// a serve misses list: a module version no mirror has is then left
	// out with a warning (a path prefix the go command probed), not an
	// error.
	Listed bool
}

// String returns the input for messages and logs: the file for local
// inputs, module@version otherwise. Bundles record [Input.Record] instead.
func (in Input) String() string {
	if in.Kind == InputModule && in.Module.Version == "" && in.Query != "" {
		return in.Module.Path + "@" + in.Query
	}
	if in.Kind == InputModule {
		return in.Module.Path + "@" + in.Module.Version
	}
	return in.File
}

// Record returns the input as bundle metadata records it, the same on every
// host and in every checkout: module@version for a module input; for a
// local one, the main modules' paths (comma-separated, sorted), the name of
// the go.mod or go.work file relative to the input's root (the directory
// holding it) and the sha256 of the file's bytes:
//
//	example.com/app go.mod sha256:3a7bd3e2…
//	example.com/app,example.com/lib go.work sha256:9f86d081…
//
// Never an absolute path: a bundle crosses the gap and is compared with
// one built elsewhere.
func (in Input) Record(ctx context.Context, mains []string) (string, error) {
	if in.Kind == InputModule {
		return in.String(), nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	data, err := os.ReadFile(in.File)
	if err != nil {
		return "", &InputError{Arg: in.Arg, Err: err}
	}
	paths := slices.Clone(mains)
	slices.Sort(paths)
	paths = slices.Compact(paths)
	sum := sha256.Sum256(data)
	return strings.Join(paths, ",") + " " + filepath.Base(in.File) + " sha256:" + hex.EncodeToString(sum[:]), nil
}

// InputError reports an input that cannot be used.
type InputError struct {
	Arg string
	Err error
}

func (e *InputError) Error() string { return fmt.Sprintf("input %q: %v", e.Arg, e.Err) }
func (e *InputError) Unwrap() error { return e.Err }

// InputParser classifies inputs as the go command run in their directory
// would find its main modules.
type InputParser struct {
	// GoWork is GOWORK: "" or "auto" finds go.work in the directory or a
	// parent, "off" ignores go.work files, else the absolute path of the
	// go.work file to use (modload FindGoWork).
	GoWork string
}

// ParseInput is [InputParser.Parse] with GOWORK unset.
func ParseInput(arg, dir string) (Input, error) { return InputParser{}.Parse(arg, dir) }

// ReadInputList is [InputParser.ReadList] with GOWORK unset.
func ReadInputList(ctx context.Context, file string) ([]Input, error) {
	return InputParser{}.ReadList(ctx, file)
}

// Parse classifies one command-line input:
//
//   - an existing directory: what the go command run there uses (modload
//     InitWorkfile, findWorkspaceFile, findModuleRoot): the go.work file
//     GOWORK names, else the first go.work in the directory or a parent
//     (none with GOWORK=off), else the first go.mod in the directory or a
//     parent;
//   - an existing file: a go.work if named go.work or *.work, else a go.mod;
//   - otherwise module@version, with a full (canonical) semantic version,
//     or module@latest (Query "latest", resolved later).
//
// Relative paths are taken relative to dir (the working directory if "").
func (ip InputParser) Parse(arg, dir string) (Input, error) {
	if arg == "" {
		return Input{}, &InputError{Arg: arg, Err: errors.New("empty input")}
	}
	p := arg
	if !filepath.IsAbs(p) && dir != "" {
		p = filepath.Join(dir, p)
	}
	st, err := os.Stat(p)
	if err == nil {
		abs, err := filepath.Abs(p)
		if err != nil {
			return Input{}, &InputError{Arg: arg, Err: err}
		}
		if st.IsDir() {
			return ip.dirInput(arg, abs)
		}
		base := filepath.Base(abs)
		if base == "go.work" || strings.HasSuffix(base, ".work") {
			return Input{Arg: arg, Kind: InputWork, File: abs}, nil
		}
		return Input{Arg: arg, Kind: InputGoMod, File: abs}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Input{}, &InputError{Arg: arg, Err: err}
	}
	i := strings.LastIndex(arg, "@")
	if i < 0 {
		return Input{}, &InputError{Arg: arg, Err: errors.New("no such file or directory, and not module@version")}
	}
	m := module.Version{Path: arg[:i], Version: arg[i+1:]}
	if err := module.CheckPath(m.Path); err != nil {
		return Input{}, &InputError{Arg: arg, Err: err}
	}
	if m.Version == "latest" {
		return Input{Arg: arg, Kind: InputModule, Module: module.Version{Path: m.Path}, Query: "latest"}, nil
	}
	if !semver.IsValid(m.Version) || semver.Canonical(m.Version) != m.Version && !strings.HasSuffix(m.Version, "+incompatible") {
		return Input{}, &InputError{Arg: arg, Err: fmt.Errorf("version %q is not a full semantic version or latest (other queries are not supported)", m.Version)}
	}
	if err := module.Check(m.Path, m.Version); err != nil {
		return Input{}, &InputError{Arg: arg, Err: err}
	}
	return Input{Arg: arg, Kind: InputModule, Module: m}, nil
}

// ReadList reads a --from file: one input a line; blank lines and lines
// starting with # are skipped. Relative paths are taken relative to the
// directory holding the list file.
func (ip InputParser) ReadList(ctx context.Context, file string) ([]Input, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(file)
	var ins []Input
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		in, err := ip.Parse(line, dir)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		in.Listed = true
		ins = append(ins, in)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return ins, nil
}

// dirInput finds the main modules of a directory as the go command does.
func (ip InputParser) dirInput(arg, dir string) (Input, error) {
	switch ip.GoWork {
	case "off":
	case "", "auto":
		if f := findUp(dir, "go.work"); f != "" {
			return Input{Arg: arg, Kind: InputWork, File: f}, nil
		}
	default:
		if !filepath.IsAbs(ip.GoWork) {
			return Input{}, &InputError{Arg: arg, Err: fmt.Errorf("invalid GOWORK %q: not an absolute path", ip.GoWork)}
		}
		return Input{Arg: arg, Kind: InputWork, File: ip.GoWork}, nil
	}
	if f := findUp(dir, "go.mod"); f != "" {
		return Input{Arg: arg, Kind: InputGoMod, File: f}, nil
	}
	return Input{}, &InputError{Arg: arg, Err: errors.New("neither it nor a parent directory holds go.mod or go.work")}
}

// findUp returns the first file name found in dir or one of its parents.
func findUp(dir, name string) string {
	for {
		f := filepath.Join(dir, name)
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			return f
		}
		d := filepath.Dir(dir)
		if d == dir {
			return ""
		}
		dir = d
	}
}
