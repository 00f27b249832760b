package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/internal/gotoolchain"
)

// ToolchainConfig says which Go toolchains [Toolchains] fetches.
type ToolchainConfig struct {
	// Specs are the --toolchain values: a toolchain ("go1.27.4" or
	// "1.27.4"), a language version ("1.27": its newest release the mirror
	// lists), or "auto": every toolchain the inputs' go and toolchain lines
	// make a go command of version Local switch to.
	Specs []string
	// Platforms are the builds to fetch of each toolchain; at least one.
	Platforms []gotoolchain.Platform
	// Local is the go version of the machines that will build (a name such
	// as "go1.26.8"), for "auto"; "" means older than every toolchain.
	Local  string
	Inputs []Input
	// SumDB is required: the go command checks every toolchain download
	// with the checksum database, even with GOSUMDB=off.
	SumDB *SumDB
	// HashZip is [Config.HashZip]; nil hashes with the mirrors' cache.
	HashZip func(ctx context.Context, m module.Version, f Fetched) (string, error)
	Logger  *slog.Logger
}

// ToolchainResult is what [Toolchains] fetched.
type ToolchainResult struct {
	// Modules are the module versions of golang.org/toolchain, verified
	// with the checksum database, with their .info, .mod and zip.
	Modules []Module
	// Why says, for each toolchain name, what asked for it
	// ("--toolchain 1.27", "go line of example.com/app go.mod").
	Why map[string]string
}

// Toolchains resolves the toolchain specs of cfg to toolchain names with
// the go command's rules (see package gotoolchain) and fetches each for
// every platform through the mirrors: golang.org/toolchain at
// v0.0.1-<name>.<os>-<arch>, its .info, .mod and zip, each hash checked
// with the checksum database. A build the mirrors do not serve is an
// error naming the toolchain and the platform.
func Toolchains(ctx context.Context, m *Mirrors, cfg ToolchainConfig) (*ToolchainResult, error) {
	if len(cfg.Specs) == 0 {
		return &ToolchainResult{}, nil
	}
	if len(cfg.Platforms) == 0 {
		return nil, errors.New("toolchains: no platform")
	}
	if cfg.SumDB == nil {
		return nil, errors.New("--toolchain needs the checksum database (not --sumdb off): the go command checks every toolchain it downloads with it, even with GOSUMDB=off")
	}
	if !cfg.SumDB.Covers(gotoolchain.ModulePath) {
		return nil, fmt.Errorf("--toolchain: GONOSUMDB or GOPRIVATE matches %s, but the go command checks toolchains with the checksum database anyway: leave it out of those patterns", gotoolchain.ModulePath)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := &toolchainResolver{m: m, cfg: cfg, log: log, why: map[string]string{}}
	names, err := tr.names(ctx)
	if err != nil {
		return nil, err
	}
	mods, err := tr.fetchAll(ctx, names)
	if err != nil {
		return nil, err
	}
	return &ToolchainResult{Modules: mods, Why: tr.why}, nil
}

// toolchainResolver is the state of one [Toolchains] call.
type toolchainResolver struct {
	m   *Mirrors
	cfg ToolchainConfig
	log *slog.Logger
	why map[string]string

	listOnce sync.Once
	list     []string // toolchain names the mirror lists for cfg.Platforms
	listErr  error
}

// names expands the specs into toolchain names, sorted and once each.
func (tr *toolchainResolver) names(ctx context.Context) ([]string, error) {
	var out []string
	add := func(name, why string) {
		if _, ok := tr.why[name]; !ok {
			tr.why[name] = why
			out = append(out, name)
		}
	}
	for _, spec := range tr.cfg.Specs {
		if spec == "auto" {
			if err := tr.auto(ctx, add); err != nil {
				return nil, err
			}
			continue
		}
		name, err := gotoolchain.Canonical(spec)
		if err != nil {
			return nil, fmt.Errorf("--toolchain: %w", err)
		}
		if gotoolchain.IsLang(name) {
			list, err := tr.listed(ctx)
			if err != nil {
				return nil, fmt.Errorf("--toolchain %s: %w", spec, err)
			}
			latest := gotoolchain.Latest(name, list)
			if latest == "" {
				return nil, fmt.Errorf("--toolchain %s: the mirrors list no %s.x release for %s (they may list only part of what they hold: name the release, such as %s.0)",
					spec, name, platformList(tr.cfg.Platforms), name)
			}
			name = latest
		}
		add(name, "--toolchain "+spec)
	}
	slices.Sort(out)
	return out, nil
}

// auto adds the toolchains each input makes a go command of version
// cfg.Local switch to under GOTOOLCHAIN=auto: by the go and toolchain
// lines of its go.work or go.mod (toolchain.Select), or, for a
// module@version (go install m@v), by its go line and the mirror's list
// (toolchain.NewerToolchain).
func (tr *toolchainResolver) auto(ctx context.Context, add func(name, why string)) error {
	for _, in := range tr.cfg.Inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch in.Kind {
		case InputGoMod, InputWork:
			goLine, tcLine, err := readGoLines(in)
			if err != nil {
				return err
			}
			name, err := gotoolchain.Select(in.File, goLine, tcLine, tr.cfg.Local)
			if err != nil {
				return fmt.Errorf("--toolchain auto: %w", err)
			}
			if name != "" {
				line := "go line"
				if tcLine != "" && name == tcLine {
					line = "toolchain line"
				}
				add(name, line+" of "+in.Arg)
			}
		case InputModule:
			data, _, err := tr.m.ReadFile(ctx, in.Module.Path, in.Module.Version, "mod")
			if err != nil {
				return fmt.Errorf("--toolchain auto: %w", err)
			}
			mf, err := modfile.ParseLax(in.String()+"/go.mod", data, nil)
			if err != nil {
				return fmt.Errorf("--toolchain auto: %w", err)
			}
			if mf.Go == nil {
				continue
			}
			need := gotoolchain.FromGoLine(mf.Go.Version)
			if sel, _ := gotoolchain.Select(in.String(), mf.Go.Version, "", tr.cfg.Local); need == "" || sel == "" {
				continue // no switch: the local go is new enough
			}
			list, err := tr.listed(ctx)
			if err != nil {
				return fmt.Errorf("--toolchain auto: %s needs go %s: %w", in.String(), mf.Go.Version, err)
			}
			name, err := gotoolchain.Newer(need, list)
			if err != nil {
				return fmt.Errorf("--toolchain auto: %s needs go %s: %w for %s", in.String(), mf.Go.Version, err, platformList(tr.cfg.Platforms))
			}
			add(name, "go line of "+in.String()+" (go install)")
		}
	}
	return nil
}

// readGoLines returns the go and toolchain lines of a go.mod or go.work
// input, as the go command reads them to choose a toolchain.
func readGoLines(in Input) (goLine, toolchainLine string, err error) {
	data, err := os.ReadFile(in.File)
	if err != nil {
		return "", "", &InputError{Arg: in.Arg, Err: err}
	}
	var g *modfile.Go
	var t *modfile.Toolchain
	if in.Kind == InputWork {
		wf, err := modfile.ParseWork(in.File, data, nil)
		if err != nil {
			return "", "", &InputError{Arg: in.Arg, Err: err}
		}
		g, t = wf.Go, wf.Toolchain
	} else {
		mf, err := modfile.Parse(in.File, data, nil)
		if err != nil {
			return "", "", &InputError{Arg: in.Arg, Err: err}
		}
		g, t = mf.Go, mf.Toolchain
	}
	if g != nil {
		goLine = g.Version
	}
	if t != nil {
		toolchainLine = t.Name
	}
	return goLine, toolchainLine, nil
}

// listed returns the toolchain names the mirrors list for the platforms
// (golang.org/toolchain/@v/list), read once.
func (tr *toolchainResolver) listed(ctx context.Context) ([]string, error) {
	tr.listOnce.Do(func() {
		vs, err := tr.m.ListVersions(ctx, gotoolchain.ModulePath)
		if err != nil {
			tr.listErr = err
			return
		}
		tr.list = gotoolchain.Names(vs, tr.cfg.Platforms)
	})
	return tr.list, tr.listErr
}

// fetchAll fetches and verifies every name for every platform, a few at a
// time (each zip is tens of MB).
func (tr *toolchainResolver) fetchAll(ctx context.Context, names []string) ([]Module, error) {
	var want []gotoolchain.Toolchain
	for _, n := range names {
		for _, p := range tr.cfg.Platforms {
			want = append(want, gotoolchain.Toolchain{Name: n, Platform: p})
		}
	}
	mods := make([]Module, len(want))
	grp, gctx := newGroup(ctx, 4)
	for i, t := range want {
		grp.Go(func() error {
			m, err := tr.fetch(gctx, t)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("toolchain %s for %s (%s): %w", t.Name, t.Platform, tr.why[t.Name], err)
			}
			mods[i] = m
			return nil
		})
	}
	if err := grp.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(mods, func(a, b Module) int {
		return compareModules(module.Version{Path: a.Path, Version: a.Version}, module.Version{Path: b.Path, Version: b.Version})
	})
	return mods, nil
}

// compareModules orders module versions as [Result.Modules] is sorted.
func compareModules(a, b module.Version) int {
	switch {
	case lessVersion(a, b):
		return -1
	case lessVersion(b, a):
		return 1
	}
	return 0
}

// fetch fetches one toolchain build and checks its go.mod and zip hashes
// with the checksum database.
func (tr *toolchainResolver) fetch(ctx context.Context, t gotoolchain.Toolchain) (Module, error) {
	mv := module.Version{Path: gotoolchain.ModulePath, Version: t.ModuleVersion()}
	if err := module.Check(mv.Path, mv.Version); err != nil {
		return Module{}, err
	}
	info, fi, err := tr.m.ReadFile(ctx, mv.Path, mv.Version, "info")
	if err != nil {
		return Module{}, notServed(err)
	}
	mod, fm, err := tr.m.ReadFile(ctx, mv.Path, mv.Version, "mod")
	if err != nil {
		return Module{}, notServed(err)
	}
	modHash, err := hashGoMod(mod)
	if err != nil {
		return Module{}, err
	}
	if err := tr.verify(ctx, mv, true, modHash, fm.Origin); err != nil {
		return Module{}, err
	}
	// A zip downloaded now comes with its hash, from the read that ends
	// its check: the hasher's, when given (see [Mirrors.FetchZip]).
	var read ZipReader
	if tr.cfg.HashZip != nil {
		read = ZipReader(tr.cfg.HashZip)
	}
	fz, zipHash, err := tr.m.FetchZip(ctx, mv.Path, mv.Version, read)
	if err != nil {
		return Module{}, notServed(err)
	}
	switch {
	case zipHash != "":
	case tr.cfg.HashZip != nil:
		if zipHash, err = tr.cfg.HashZip(ctx, mv, fz); err != nil {
			err = zipFetchError(mv, err)
		}
	default:
		zipHash, _, err = tr.m.ZipHash(ctx, mv.Path, mv.Version, fz)
	}
	if err != nil {
		return Module{}, err
	}
	if err := tr.verify(ctx, mv, false, zipHash, fz.Origin); err != nil {
		return Module{}, err
	}
	tr.log.Info("toolchain fetched", "toolchain", t.String(), "zip_bytes", fz.Size)
	return Module{
		Path: mv.Path, Version: mv.Version,
		Info: info, Mod: mod, InfoOrigin: fi.Origin, ModOrigin: fm.Origin, ModHash: modHash,
		Zip: &fz, ZipHash: zipHash,
	}, nil
}

// verify checks a toolchain hash with the checksum database; a file that
// fails is dropped from the download cache.
func (tr *toolchainResolver) verify(ctx context.Context, mv module.Version, isMod bool, h, mirror string) error {
	err := tr.cfg.SumDB.Check(ctx, mv.Path, mv.Version, isMod, h)
	if err == nil {
		return nil
	}
	file, kind := "zip", "zip"
	if isMod {
		file, kind = "go.mod", "mod"
	}
	if ctx.Err() == nil {
		if ferr := tr.m.Forget(context.WithoutCancel(ctx), mv.Path, mv.Version, kind); ferr != nil {
			tr.log.Warn("cannot drop file that failed verification from the cache", "module", modString(mv), "err", ferr)
		}
	}
	return &VerifyError{Path: mv.Path, Version: mv.Version, File: file, Got: h, Mirror: mirror, Err: err}
}

// notServed words a mirror's refusal of a toolchain build: a 404 or 410,
// or a 403 as some mirrors answer for platforms they do not carry.
func notServed(err error) error {
	var se *statusError
	if errors.Is(err, fs.ErrNotExist) || errors.As(err, &se) && se.Code == 403 {
		return fmt.Errorf("the mirrors do not serve this build: %w", err)
	}
	return err
}

// platformList formats platforms for messages.
func platformList(ps []gotoolchain.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// maxListBytes bounds an @v/list answer.
const maxListBytes = 16 << 20

// ListVersions returns the versions the mirror chain lists for path
// (GET <mirror>/<path>/@v/list), with the go command's fall-through rules:
// after "," the next mirror only on 404 or 410, after "|" on any error.
// "direct" and "off" list nothing. A mirror may list only part of what it
// serves, so a version missing from the list may still be fetched.
func (m *Mirrors) ListVersions(ctx context.Context, path string) ([]string, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, spec := range m.specs {
		if spec.url == nil {
			errs = append(errs, fmt.Errorf("%s: lists no versions of %s", spec, path))
			continue
		}
		var buf bytes.Buffer
		consume := func(body io.Reader, _ int64) error {
			buf.Reset()
			n, err := io.Copy(&buf, io.LimitReader(body, maxListBytes+1))
			if err == nil && n > maxListBytes {
				err = fmt.Errorf("list larger than %d bytes", maxListBytes)
			}
			return err
		}
		u := joinURL(spec.url, ep+"/@v/list")
		if spec.url.Scheme == "file" {
			err = m.readFile(ctx, u, consume)
		} else {
			err = m.get.get(ctx, u, consume)
		}
		if err == nil {
			var out []string
			for _, line := range strings.Split(buf.String(), "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					out = append(out, f[0])
				}
			}
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
		if !spec.fallBackOnError && !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, fmt.Errorf("listing %s: %w", path, errors.Join(errs...))
}
