package resolver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// # Queries
//
// [Mirrors.Latest] resolves module@latest through the chain as the go
// command does (modload queryLatest over a proxy): the versions of
// @v/list without pseudo-versions, the highest release, else the highest
// prerelease, skipping versions that the go.mod of that choice retracts;
// when the list is empty, the @latest endpoint (which may name a
// pseudo-version). GONOPROXY (GOPRIVATE) paths are asked of the go command
// with GOPROXY=direct, never of a mirror. [Mirrors.List] returns a
// module's list as the mirror serves it, pseudo-versions included.

// maxListSize bounds a @v/list or @latest answer.
const maxListSize = 4 << 20

// List returns the versions the chain's first mirror that knows path
// lists for it (valid canonical versions only, pseudo-versions included),
// sorted by semver. A module no mirror knows gives an error matching
// fs.ErrNotExist; an empty list is no error. GONOPROXY paths and "direct"
// entries are answered by the go command (go list -m -versions).
func (m *Mirrors) List(ctx context.Context, path string) ([]string, error) {
	if err := module.CheckPath(path); err != nil {
		return nil, &module.ModuleError{Path: path, Err: err}
	}
	var vs []string
	err := m.eachMirror(ctx, path, func(spec proxySpec) error {
		var err error
		if spec.word == "direct" {
			vs, err = m.listDirect(ctx, path)
			return err
		}
		body, err := m.getSmall(ctx, spec, path, "list")
		if err != nil {
			return err
		}
		vs = parseList(body)
		return nil
	})
	if err != nil {
		return nil, &module.ModuleError{Path: path, Err: err}
	}
	return vs, nil
}

// Latest returns the version path@latest resolves to (see Queries).
func (m *Mirrors) Latest(ctx context.Context, path string) (string, error) {
	if err := module.CheckPath(path); err != nil {
		return "", &module.ModuleError{Path: path, Version: "latest", Err: err}
	}
	var v string
	err := m.eachMirror(ctx, path, func(spec proxySpec) error {
		if spec.word == "direct" {
			out, err := m.goQuery(ctx, []string{"list", "-m", "-json", path + "@latest"})
			v = out.Version
			return err
		}
		body, err := m.getSmall(ctx, spec, path, "list")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		var list []string
		for _, v := range parseList(body) {
			if !module.IsPseudoVersion(v) {
				list = append(list, v)
			}
		}
		if len(list) > 0 {
			v, err = m.latestOf(ctx, path, list)
			return err
		}
		body, err = m.getSmall(ctx, spec, path, "latest")
		if err != nil {
			return err
		}
		var info struct{ Version string }
		if err := json.Unmarshal(body, &info); err != nil {
			return fmt.Errorf("%s@latest: %w", spec, err)
		}
		if !semver.IsValid(info.Version) || module.CanonicalVersion(info.Version) != info.Version {
			return fmt.Errorf("%s@latest: invalid version %q", spec, info.Version)
		}
		v = info.Version
		return nil
	})
	if err != nil {
		return "", &module.ModuleError{Path: path, Version: "latest", Err: err}
	}
	if v == "" {
		return "", &module.ModuleError{Path: path, Version: "latest", Err: fmt.Errorf("no versions: %w", fs.ErrNotExist)}
	}
	return v, nil
}

// latestOf picks from list (no pseudo-versions) as the go command does
// (modload queryProxy, filterVersions): +incompatible versions count only
// when the highest compatible version has no go.mod of its own, and what
// the pick's go.mod retracts is skipped.
func (m *Mirrors) latestOf(ctx context.Context, path string, list []string) (string, error) {
	var compat, incompat []string
	for _, v := range list {
		if strings.HasSuffix(v, "+incompatible") {
			incompat = append(incompat, v)
		} else {
			compat = append(compat, v)
		}
	}
	if len(compat) > 0 && len(incompat) > 0 {
		last := compat[len(compat)-1] // list is sorted
		data, _, err := m.ReadFile(ctx, path, last, "mod")
		if err != nil {
			return "", err
		}
		if string(data) != "module "+modfile.AutoQuote(path)+"\n" {
			list = compat // a real go.mod: the author versions with modules
		}
	}
	pick := chooseLatest(list, nil)
	data, _, err := m.ReadFile(ctx, path, pick, "mod")
	if err != nil {
		return "", err
	}
	f, err := modfile.ParseLax(path+"@"+pick+"/go.mod", data, nil)
	if err != nil {
		return "", err
	}
	if len(f.Retract) == 0 {
		return pick, nil
	}
	retracted := func(v string) bool {
		for _, r := range f.Retract {
			if semver.Compare(r.Low, v) <= 0 && semver.Compare(v, r.High) <= 0 {
				return true
			}
		}
		return false
	}
	if v := chooseLatest(list, retracted); v != "" {
		return v, nil
	}
	return pick, nil // all retracted: the go command still takes the highest
}

// chooseLatest returns the highest release of list not excluded, else the
// highest prerelease.
func chooseLatest(list []string, excluded func(string) bool) string {
	var rel, pre string
	for _, v := range list {
		if excluded != nil && excluded(v) {
			continue
		}
		if semver.Prerelease(v) == "" {
			if rel == "" || semver.Compare(v, rel) > 0 {
				rel = v
			}
		} else if pre == "" || semver.Compare(v, pre) > 0 {
			pre = v
		}
	}
	if rel != "" {
		return rel
	}
	return pre
}

// parseList returns the valid canonical versions of a @v/list body,
// sorted and unique.
func parseList(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if v := f[0]; semver.IsValid(v) && module.CanonicalVersion(v) == v {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, semver.Compare)
	return slices.Compact(out)
}

// eachMirror calls try for the chain's entries with the go command's
// fall-through rules until one succeeds (GONOPROXY paths: direct only).
func (m *Mirrors) eachMirror(ctx context.Context, path string, try func(proxySpec) error) error {
	if module.MatchPrefixPatterns(m.noProxy, path) {
		return try(proxySpec{word: "direct", raw: "direct"})
	}
	var firstErr error
	for _, spec := range m.specs {
		var err error
		if spec.word == "off" {
			err = errProxyOff
		} else {
			err = try(spec)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		notExist := errors.Is(err, fs.ErrNotExist)
		if firstErr == nil || (errors.Is(firstErr, fs.ErrNotExist) && !notExist) {
			firstErr = err
		}
		if !spec.fallBackOnError && !notExist {
			break
		}
	}
	return firstErr
}

// getSmall GETs path's @v/list (what "list") or @latest from a mirror.
func (m *Mirrors) getSmall(ctx context.Context, spec proxySpec, path, what string) ([]byte, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return nil, err
	}
	rel := ep + "/@v/list"
	if what == "latest" {
		rel = ep + "/@latest"
	}
	target := joinURL(spec.url, rel)
	var buf bytes.Buffer
	consume := func(body io.Reader, _ int64) error {
		buf.Reset()
		if _, err := io.Copy(&buf, io.LimitReader(body, maxListSize+1)); err != nil {
			return err
		}
		if buf.Len() > maxListSize {
			return fmt.Errorf("%s: larger than %d bytes", redact(target), maxListSize)
		}
		return nil
	}
	if spec.url.Scheme == "file" {
		err = m.readFile(ctx, target, consume)
	} else {
		err = m.get.get(ctx, target, consume)
	}
	if err != nil {
		return nil, err
	}
	m.log.Debug("query", "url", redact(target), "bytes", buf.Len())
	return buf.Bytes(), nil
}

// listDirect asks the go command for path's versions.
func (m *Mirrors) listDirect(ctx context.Context, path string) ([]string, error) {
	out, err := m.goQuery(ctx, []string{"list", "-m", "-json", "-versions", path})
	if err != nil {
		return nil, err
	}
	return parseList([]byte(strings.Join(out.Versions, "\n"))), nil
}

// goQuery runs the go command for a query with GOPROXY=DirectProxy.
func (m *Mirrors) goQuery(ctx context.Context, args []string) (goModuleJSON, error) {
	var out goModuleJSON
	_, err := m.goJSON(ctx, filepath.Join(m.cache.dir, "direct", "modcache"), args, &out)
	return out, err
}

// Choice is a query input resolved at create time, for the summary.
type Choice struct {
	Query   string `json:"query"`   // module@latest
	Version string `json:"version"` // what it resolved to
}

// ResolveQueries prepares inputs for [Resolve]: module@latest inputs are
// resolved with [Mirrors.Latest] (their choices returned), and module
// inputs from --from lists ([Input.Listed]) that no mirror has are left
// out as gaps (a serve misses list holds the path prefixes the go command
// probes, which are no modules), unless strict. Other errors, and a miss
// of a module input given on the command line, fail.
func ResolveQueries(ctx context.Context, m *Mirrors, ins []Input, strict bool) ([]Input, []Choice, []Gap, error) {
	type result struct {
		in     Input
		choice *Choice
		gap    *Gap
		err    error
	}
	res := make([]result, len(ins))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32) // the mirrors bound requests; this bounds goroutines
	for i, in := range ins {
		res[i].in = in
		if in.Kind != InputModule || (in.Query == "" && !in.Listed) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := &res[i]
			var err error
			if in.Query != "" {
				var v string
				if v, err = m.Latest(ctx, in.Module.Path); err == nil {
					r.choice = &Choice{Query: in.String(), Version: v}
					r.in.Module.Version = v
				}
			} else {
				_, err = m.Fetch(ctx, in.Module.Path, in.Module.Version, "mod")
			}
			switch {
			case err == nil:
			case ctx.Err() != nil:
				r.err = ctx.Err()
			case !in.Listed || strict || !errors.Is(err, fs.ErrNotExist):
				r.err = &InputError{Arg: in.Arg, Err: err}
			default:
				v := in.Module.Version
				if v == "" {
					v = in.Query
				}
				r.gap = &Gap{Path: in.Module.Path, Version: v, File: "input",
					Reason: "listed input not found on the mirrors (a path prefix the go command probes, or a typo); left out: " + firstLine(strings.NewReader(err.Error()))}
			}
		}()
	}
	wg.Wait()
	var out []Input
	var choices []Choice
	var gaps []Gap
	for _, r := range res {
		switch {
		case r.err != nil:
			return nil, nil, nil, r.err
		case r.gap != nil:
			gaps = append(gaps, *r.gap)
		default:
			if r.choice != nil {
				choices = append(choices, *r.choice)
			}
			out = append(out, r.in)
		}
	}
	return out, choices, gaps, nil
}
