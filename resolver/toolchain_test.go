package resolver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/gotoolchain"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

var (
	linuxAMD64  = gotoolchain.Platform{OS: "linux", Arch: "amd64"}
	darwinARM64 = gotoolchain.Platform{OS: "darwin", Arch: "arm64"}
)

// toolchainKit starts a fake upstream holding fake toolchains (go1.98.5,
// go1.99.0 and go1.99.1 for linux/amd64, go1.99.1 for darwin/arm64 too)
// and a fake checksum database over them, lying about the records in lies.
func toolchainKit(t *testing.T, lies ...string) (*Mirrors, *SumDB, *fakeproxy.Server) {
	t.Helper()
	set := fixtures.NewSet(
		fixtures.Toolchain("go1.98.5", "linux", "amd64"),
		fixtures.Toolchain("go1.99.0", "linux", "amd64"),
		fixtures.Toolchain("go1.99.1", "linux", "amd64"),
		fixtures.Toolchain("go1.99.1", "darwin", "arm64"),
	)
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sum.kit.example", Lies: lies})
	if err != nil {
		t.Fatal(err)
	}
	p := fakeproxy.Start(set, 1)
	t.Cleanup(p.Close)
	p.MountSumDB(db.Name(), db.Handler())
	m := ftMirrors(t, p.URL)
	t.Cleanup(func() { m.Close() })
	sdb, err := NewSumDB(SumDBConfig{GOSUMDB: db.VerifierKey(), CacheDir: t.TempDir()}, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdb.Close() })
	return m, sdb, p
}

func toolchainVersions(res *ToolchainResult) []string {
	var out []string
	for _, m := range res.Modules {
		out = append(out, m.Version)
	}
	return out
}

func TestToolchainsSpecs(t *testing.T) {
	m, sdb, _ := toolchainKit(t)
	ctx := context.Background()
	res, err := Toolchains(ctx, m, ToolchainConfig{
		Specs:     []string{"1.99", "go1.98.5", "1.98.5"},
		Platforms: []gotoolchain.Platform{linuxAMD64},
		SumDB:     sdb,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v0.0.1-go1.98.5.linux-amd64", "v0.0.1-go1.99.1.linux-amd64"}
	if got := toolchainVersions(res); !slices.Equal(got, want) {
		t.Fatalf("versions = %q, want %q", got, want)
	}
	if res.Why["go1.99.1"] != "--toolchain 1.99" {
		t.Errorf("Why = %q", res.Why)
	}
	for _, mod := range res.Modules {
		if mod.Zip == nil || !strings.HasPrefix(mod.ZipHash, "h1:") || !strings.HasPrefix(mod.ModHash, "h1:") || len(mod.Info) == 0 {
			t.Errorf("%s: incomplete: %+v", mod.Version, mod)
		}
	}

	// Two platforms: each name for each.
	res, err = Toolchains(ctx, m, ToolchainConfig{Specs: []string{"go1.99.1"}, Platforms: []gotoolchain.Platform{linuxAMD64, darwinARM64}, SumDB: sdb})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"v0.0.1-go1.99.1.darwin-arm64", "v0.0.1-go1.99.1.linux-amd64"}
	if got := toolchainVersions(res); !slices.Equal(got, want) {
		t.Fatalf("versions = %q, want %q", got, want)
	}
}

func TestToolchainsErrors(t *testing.T) {
	m, sdb, _ := toolchainKit(t, gotoolchain.ModulePath+"@v0.0.1-go1.99.0.linux-amd64")
	ctx := context.Background()
	windows := gotoolchain.Platform{OS: "windows", Arch: "amd64"}
	for _, tc := range []struct {
		cfg  ToolchainConfig
		want []string
	}{
		// A platform the mirror does not serve names version and platform.
		{ToolchainConfig{Specs: []string{"go1.99.1"}, Platforms: []gotoolchain.Platform{linuxAMD64, windows}, SumDB: sdb},
			[]string{"toolchain go1.99.1 for windows/amd64", "do not serve"}},
		// A language version nobody lists.
		{ToolchainConfig{Specs: []string{"1.97"}, Platforms: []gotoolchain.Platform{linuxAMD64}, SumDB: sdb},
			[]string{"--toolchain 1.97", "no go1.97.x release for linux/amd64"}},
		{ToolchainConfig{Specs: []string{"latest"}, Platforms: []gotoolchain.Platform{linuxAMD64}, SumDB: sdb},
			[]string{`toolchain "latest"`}},
		// The checksum database is required.
		{ToolchainConfig{Specs: []string{"go1.99.1"}, Platforms: []gotoolchain.Platform{linuxAMD64}},
			[]string{"needs the checksum database"}},
		// A record that does not match the zip.
		{ToolchainConfig{Specs: []string{"go1.99.0"}, Platforms: []gotoolchain.Platform{linuxAMD64}, SumDB: sdb},
			[]string{"toolchain go1.99.0 for linux/amd64", "v0.0.1-go1.99.0.linux-amd64"}},
	} {
		_, err := Toolchains(ctx, m, tc.cfg)
		if err == nil {
			t.Errorf("%v: no error", tc.cfg.Specs)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", tc.cfg.Specs, err, w)
			}
		}
	}
	_, err := Toolchains(ctx, m, ToolchainConfig{Specs: []string{"go1.99.0"}, Platforms: []gotoolchain.Platform{linuxAMD64}, SumDB: sdb})
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.File != "zip" {
		t.Errorf("lying record: err = %v, want a zip *VerifyError", err)
	}
}

// TestToolchainsAuto: --toolchain auto carries what the inputs' go and
// toolchain lines make a go command of the given version switch to.
func TestToolchainsAuto(t *testing.T) {
	m, sdb, _ := toolchainKit(t)
	ctx := context.Background()
	dir := t.TempDir()
	input := func(name, content string) Input {
		f := filepath.Join(dir, name, "go.mod")
		if strings.HasSuffix(name, ".work") {
			f = filepath.Join(dir, name, "go.work")
		}
		if err := os.MkdirAll(filepath.Dir(f), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
		in, err := ParseInput(f, "")
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	goLine := input("a", "module example.com/a\n\ngo 1.99.0\n")
	tcLine := input("b", "module example.com/b\n\ngo 1.98.0\n\ntoolchain go1.99.1\n")
	old := input("c", "module example.com/c\n\ngo 1.22\n")
	work := input("w.work", "go 1.98.5\n")
	for _, tc := range []struct {
		local  string
		inputs []Input
		want   []string
	}{
		{"go1.26.8", []Input{goLine}, []string{"v0.0.1-go1.99.0.linux-amd64"}},
		{"go1.26.8", []Input{tcLine}, []string{"v0.0.1-go1.99.1.linux-amd64"}},
		{"go1.26.8", []Input{old, work}, []string{"v0.0.1-go1.98.5.linux-amd64"}},
		{"go1.99.0", []Input{goLine, tcLine, old}, []string{"v0.0.1-go1.99.1.linux-amd64"}},
		{"go1.99.5", []Input{goLine, tcLine, old, work}, nil},
	} {
		res, err := Toolchains(ctx, m, ToolchainConfig{Specs: []string{"auto"}, Platforms: []gotoolchain.Platform{linuxAMD64}, Local: tc.local, Inputs: tc.inputs, SumDB: sdb})
		if err != nil {
			t.Fatalf("local %s: %v", tc.local, err)
		}
		if got := toolchainVersions(res); !slices.Equal(got, tc.want) {
			t.Errorf("local %s, %d inputs: versions = %q, want %q", tc.local, len(tc.inputs), got, tc.want)
		}
	}
	bad := input("d", "module example.com/d\n\ngo 1.22\n\ntoolchain mine\n")
	if _, err := Toolchains(ctx, m, ToolchainConfig{Specs: []string{"auto"}, Platforms: []gotoolchain.Platform{linuxAMD64}, Inputs: []Input{bad}, SumDB: sdb}); err == nil || !strings.Contains(err.Error(), "'mine'") {
		t.Errorf("toolchain mine: err = %v", err)
	}
}
