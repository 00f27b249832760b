package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/gotoolchain"
	"github.com/gobundle/gobundle/resolver"
)

// Toolchain is one bundled Go toolchain in [Result].
type Toolchain struct {
	Name      string   `json:"name"`      // go1.27.4
	Platforms []string `json:"platforms"` // linux/amd64, …
	// Why says what asked for it: "--toolchain 1.27", "go line of ./app".
	Why string `json:"why"`
}

// fetchToolchains is the toolchains stage: with Options.Toolchains, it
// resolves and fetches every toolchain build ([resolver.Toolchains]) and
// hands each to the writer before the resolve stage announces the graph,
// so that their zips are among those the writer expects and compresses
// while the resolver works.
func (j *job) fetchToolchains(ctx context.Context) (err error) {
	if len(j.opts.Toolchains) == 0 {
		return nil
	}
	cfg := resolver.ToolchainConfig{
		Specs: j.opts.Toolchains, Platforms: j.opts.Platforms, Local: j.settings.GoVersion,
		Inputs: j.inputs, SumDB: j.sumdb, Logger: j.log,
	}
	j.emit(Event{Stage: "toolchains", Item: strings.Join(j.opts.Toolchains, ", ")})
	j.toolchains, err = fetchToolchains(ctx, j.mirrors, cfg, j.w)
	j.emit(Event{Stage: "toolchains", End: true})
	return err
}

// fetchToolchains fetches the toolchains cfg names and, with a writer w,
// adds each (zip included) to it.
func fetchToolchains(ctx context.Context, m *resolver.Mirrors, cfg resolver.ToolchainConfig, w *bundle.Writer) (*resolver.ToolchainResult, error) {
	if w != nil {
		cfg.HashZip = func(ctx context.Context, m module.Version, f resolver.Fetched) (string, error) {
			return w.PrepareZip(ctx, m.Path, m.Version, f.File, f.SHA256)
		}
	}
	tr, err := resolver.Toolchains(ctx, m, cfg)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	if w != nil {
		for _, mod := range tr.Modules {
			if err := w.AddModule(ctx, moduleSource(mod)); err != nil {
				return nil, err
			}
		}
	}
	return tr, nil
}

// toolchainZips returns the toolchain module versions, whose zips the
// writer holds already.
func toolchainZips(tr *resolver.ToolchainResult) []module.Version {
	if tr == nil {
		return nil
	}
	out := make([]module.Version, len(tr.Modules))
	for i, m := range tr.Modules {
		out[i] = module.Version{Path: m.Path, Version: m.Version}
	}
	return out
}

// addToolchains adds the toolchains to the resolver's result, so that the
// sumdb stage stores their records and proofs, the write stage adds them
// with the modules and the summary counts them.
func addToolchains(res *resolver.Result, tr *resolver.ToolchainResult) {
	if tr == nil || len(tr.Modules) == 0 {
		return
	}
	for _, m := range tr.Modules {
		res.Modules = append(res.Modules, m)
		res.Stats.Modules++
		res.Stats.Zips++
		res.Stats.Files += 3
		res.Stats.Bytes += int64(len(m.Info)+len(m.Mod)) + m.Zip.Size
		res.Stats.SumDBChecks += 2 // its go.mod and zip hashes
	}
	slices.SortFunc(res.Modules, func(a, b resolver.Module) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return semver.Compare(a.Version, b.Version)
	})
}

// toolchainSummary lists the toolchains by name, with their platforms.
func toolchainSummary(tr *resolver.ToolchainResult) []Toolchain {
	if tr == nil {
		return nil
	}
	var out []Toolchain
	for _, m := range tr.Modules {
		t, _ := gotoolchain.Parse(m.Version)
		if n := len(out); n > 0 && out[n-1].Name == t.Name {
			out[n-1].Platforms = append(out[n-1].Platforms, t.Platform.String())
			continue
		}
		out = append(out, Toolchain{Name: t.Name, Platforms: []string{t.Platform.String()}, Why: tr.Why[t.Name]})
	}
	return out
}
