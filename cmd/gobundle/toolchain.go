package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/gotoolchain"
	"github.com/gobundle/gobundle/internal/pipeline"
)

// inspectToolchain is one bundled Go toolchain as inspect shows it.
type inspectToolchain struct {
	Name     string `json:"name"`     // go1.27.4
	Platform string `json:"platform"` // linux/amd64
	Version  string `json:"version"`  // of golang.org/toolchain
	// ZipSize is the size of the zip as served (stored entries), ZipFiles
	// its file count; what it costs in the bundle is shared with the other
	// toolchains (src/ is the same for every platform).
	ZipSize  int64 `json:"zip_size"`
	ZipFiles int   `json:"zip_files"`
}

// bundledToolchains returns the toolchains among mods (module versions of
// golang.org/toolchain with a zip) and the other module versions.
func bundledToolchains(mods []bundle.Module) (tcs []inspectToolchain, others int) {
	tcs = []inspectToolchain{}
	for _, m := range mods {
		t, ok := gotoolchain.Parse(m.Version)
		if !gotoolchain.IsModule(m.Path) || !ok || m.Zip == nil {
			others++
			continue
		}
		tcs = append(tcs, inspectToolchain{Name: t.Name, Platform: t.Platform.String(), Version: m.Version, ZipSize: m.Zip.Size, ZipFiles: m.ZipFiles})
	}
	return tcs, others
}

// printToolchains writes inspect's toolchain lines: one summary line, then
// one line per toolchain.
func printToolchains(w io.Writer, tcs []inspectToolchain) {
	if len(tcs) == 0 {
		return
	}
	var total int64
	for _, t := range tcs {
		total += t.ZipSize
	}
	fmt.Fprintf(w, "toolchains\t%d (zips %s as served; for GOTOOLCHAIN switches)\n", len(tcs), humanBytes(total))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range tcs {
		fmt.Fprintf(tw, "  %s\t%s\tzip %s\t%d files\n", t.Name, t.Platform, humanBytes(t.ZipSize), t.ZipFiles)
	}
	tw.Flush()
}

// toolchainFlags are create's toolchain flags.
type toolchainFlags struct {
	Toolchain []string `name:"toolchain" placeholder:"VERSION" help:"Also bundle Go toolchain VERSION (repeatable), as the go command downloads it for GOTOOLCHAIN switches: go1.27.4 (or 1.27.4); 1.27 for the newest 1.27 patch release the mirror lists; auto for every toolchain the inputs' go and toolchain lines make a go of --farm-go switch to. Each needs the checksum database. Example: --toolchain auto --toolchain 1.27."`
	Platform  []string `name:"platform" placeholder:"OS/ARCH" help:"Build of each --toolchain to bundle (repeatable; default this machine's). Example: --platform linux/amd64 --platform darwin/arm64."`
	FarmGo    string   `name:"farm-go" placeholder:"VERSION" help:"The go version of the machines inside, for --toolchain auto (default: go env GOVERSION of this machine). Example: --farm-go go1.25.3."`
}

// platforms parses --platform, defaulting to this machine's.
func (f toolchainFlags) platforms() ([]gotoolchain.Platform, error) {
	args := f.Platform
	if len(args) == 0 {
		args = []string{runtime.GOOS + "/" + runtime.GOARCH}
	}
	var out []gotoolchain.Platform
	for _, a := range args {
		p, err := gotoolchain.ParsePlatform(a)
		if err != nil {
			return nil, usageError{fmt.Errorf("create: --platform: %w", err)}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// check validates the flags before any work and returns the platforms.
func (f toolchainFlags) check() ([]gotoolchain.Platform, error) {
	ps, err := f.platforms()
	if err != nil {
		return nil, err
	}
	if len(f.Platform) > 0 && len(f.Toolchain) == 0 {
		return nil, usageError{errors.New("create: --platform picks builds of --toolchain: add --toolchain")}
	}
	for _, t := range f.Toolchain {
		if t == "auto" {
			continue
		}
		if _, err := gotoolchain.Canonical(t); err != nil {
			return nil, usageError{fmt.Errorf("create: --toolchain: %w", err)}
		}
	}
	if f.FarmGo != "" {
		if _, err := gotoolchain.Canonical(f.FarmGo); err != nil {
			return nil, usageError{fmt.Errorf("create: --farm-go: %w", err)}
		}
	}
	if len(f.Toolchain) == 0 {
		return nil, nil
	}
	return ps, nil
}

// farmGo returns the go version --toolchain auto compares with: --farm-go,
// else this machine's (go env GOVERSION), asked only when needed.
func (f toolchainFlags) farmGo(ctx context.Context, e *env) (string, error) {
	if len(f.Toolchain) == 0 {
		return "", nil
	}
	if f.FarmGo != "" {
		return gotoolchain.Canonical(f.FarmGo)
	}
	env, err := e.goEnv(ctx, []string{"GOVERSION"})
	if err != nil {
		return "", err
	}
	return env["GOVERSION"], nil
}

// printSummaryToolchains adds create's toolchain line to its summary.
func printSummaryToolchains(w io.Writer, tcs []pipeline.Toolchain) {
	if len(tcs) == 0 {
		return
	}
	parts := make([]string, len(tcs))
	for i, t := range tcs {
		parts[i] = t.Name + " (" + strings.Join(t.Platforms, ", ") + "; " + t.Why + ")"
	}
	fmt.Fprintf(w, "  toolchains: %s\n", strings.Join(parts, ", "))
}
