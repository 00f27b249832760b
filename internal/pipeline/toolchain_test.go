package pipeline

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/gotoolchain"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// TestToolchainsStage: toolchains given by version are fetched for every
// platform, bundled beside the project's modules with their checksum
// database records, and listed in the result.
func TestToolchainsStage(t *testing.T) {
	k := newKit(t, fixtures.Toolchain("go1.99.1", "linux", "amd64"), fixtures.Toolchain("go1.99.1", "darwin", "arm64"))
	out := filepath.Join(t.TempDir(), "tc.gobundle")
	opts := k.options(t, out, nil)
	opts.Toolchains = []string{"1.99", "auto"}
	settings := opts.Settings
	opts.Settings = func(ctx context.Context) (Settings, error) {
		st, err := settings(ctx)
		// The project's go line (1.2x) makes a go1.26.8 switch to nothing.
		st.GoVersion = "go1.26.8"
		return st, err
	}
	opts.Platforms = []gotoolchain.Platform{{OS: "linux", Arch: "amd64"}, {OS: "darwin", Arch: "arm64"}}
	ctx := context.Background()
	res, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []Toolchain{{Name: "go1.99.1", Platforms: []string{"darwin/arm64", "linux/amd64"}, Why: "--toolchain 1.99"}}
	if len(res.Toolchains) != 1 || res.Toolchains[0].Name != want[0].Name || !slices.Equal(res.Toolchains[0].Platforms, want[0].Platforms) || res.Toolchains[0].Why != want[0].Why {
		t.Fatalf("Toolchains = %+v, want %+v", res.Toolchains, want)
	}
	r, err := bundle.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, v := range []string{"v0.0.1-go1.99.1.darwin-arm64", "v0.0.1-go1.99.1.linux-amd64"} {
		m, ok := r.Module(gotoolchain.ModulePath, v)
		if !ok || m.Zip == nil || m.Info == nil || m.Mod == nil {
			t.Errorf("%s: not bundled with .info, .mod and zip: %+v", v, m)
		}
	}
	if got, want := res.Resolved.Stats.Modules, len(r.Modules()); got != want {
		t.Errorf("Stats.Modules = %d, bundle holds %d", got, want)
	}
	s, err := sumdbstore.Load(ctx, r, nil)
	if err != nil || s == nil {
		t.Fatalf("sumdbstore.Load: %v", err)
	}
	for _, v := range []string{"v0.0.1-go1.99.1.darwin-arm64", "v0.0.1-go1.99.1.linux-amd64"} {
		if !slices.ContainsFunc(s.Records, func(r sumdbstore.Record) bool { return r.Path == gotoolchain.ModulePath && r.Version == v }) {
			t.Errorf("no checksum database record for %s", v)
		}
	}
}
