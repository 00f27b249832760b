package sbom

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"golang.org/x/mod/sumdb/note"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sbom/schematest"
	"github.com/gobundle/gobundle/internal/testkit"
)

// largeInput is the SBOM input of a real bundle of a large project's full
// graph (github.com/gohugoio/hugo v0.139.0, made by gobundle create through
// the upstream proxy: 5,777 module versions, 382 zips, 89,619 go.mod
// edges), written by go run ./internal/sbom/dumpinput (mirror names
// replaced by example ones).
const largeInput = "testdata/hugo-v0.139.0.input.json.gz"

func readInput(t *testing.T, name string) *Input {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var in Input
	if err := json.NewDecoder(zr).Decode(&in); err != nil {
		t.Fatal(err)
	}
	return &in
}

func encode(t *testing.T, bom *cdx.BOM) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, bom); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// doc is the part of the encoded JSON the checks read back.
type doc struct {
	SpecVersion string `json:"specVersion"`
	Metadata    struct {
		Component struct {
			BOMRef     string         `json:"bom-ref"`
			Properties []cdx.Property `json:"properties"`
		} `json:"component"`
	} `json:"metadata"`
	Components   []cdx.Component `json:"components"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies"`
}

func prop(c cdx.Component, name string) string {
	if c.Properties == nil {
		return ""
	}
	for _, p := range *c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// checkModules checks that every module version of in appears exactly once
// in d, with its purl, the sha256 of its zip as served (when bundled) and
// both go.sum hashes; and that the go.mod edges are its dependencies.
func checkModules(t *testing.T, in *Input, d *doc) {
	t.Helper()
	byPurl := map[string]cdx.Component{}
	for _, c := range d.Components {
		if c.PackageURL == "" || c.Type == cdx.ComponentTypeApplication && c.Version == "" {
			continue
		}
		if _, dup := byPurl[c.PackageURL]; dup {
			t.Fatalf("component %s listed twice", c.PackageURL)
		}
		byPurl[c.PackageURL] = c
	}
	if len(byPurl) != len(in.Modules) {
		t.Fatalf("%d module components, want %d", len(byPurl), len(in.Modules))
	}
	deps := map[string][]string{}
	for _, dep := range d.Dependencies {
		deps[dep.Ref] = dep.DependsOn
	}
	edges := 0
	for _, m := range in.Modules {
		purl := Purl(m.Path, m.Version)
		if !strings.HasPrefix(purl, "pkg:golang/") || !strings.Contains(purl, "@") {
			t.Fatalf("purl %q", purl)
		}
		c, ok := byPurl[purl]
		if !ok || c.Name != m.Path || c.Version != m.Version || c.BOMRef != purl {
			t.Fatalf("%s@%s: component %+v", m.Path, m.Version, c)
		}
		if m.ZipSHA256 != "" {
			if c.Hashes == nil || len(*c.Hashes) != 1 || (*c.Hashes)[0].Algorithm != cdx.HashAlgoSHA256 || (*c.Hashes)[0].Value != m.ZipSHA256 {
				t.Fatalf("%s@%s: hashes %v, want the zip's sha256 %s", m.Path, m.Version, c.Hashes, m.ZipSHA256)
			}
			if h := prop(c, PropZipH1); h != m.ZipHash || !strings.HasPrefix(h, "h1:") {
				t.Fatalf("%s@%s: zip h1 %q, want %q", m.Path, m.Version, h, m.ZipHash)
			}
		}
		if h := prop(c, PropModH1); h != m.ModHash || !strings.HasPrefix(h, "h1:") {
			t.Fatalf("%s@%s: go.mod h1 %q, want %q", m.Path, m.Version, h, m.ModHash)
		}
		if s := prop(c, PropModSHA256); s != m.ModSHA256 || len(s) != 64 {
			t.Fatalf("%s@%s: go.mod sha256 %q", m.Path, m.Version, s)
		}
		got := deps[purl]
		if len(got) != len(m.Requires) {
			t.Fatalf("%s@%s: %d dependencies, want %d", m.Path, m.Version, len(got), len(m.Requires))
		}
		for k, j := range m.Requires {
			if want := Purl(in.Modules[j].Path, in.Modules[j].Version); got[k] != want {
				t.Fatalf("%s@%s: dependency %s, want %s", m.Path, m.Version, got[k], want)
			}
		}
		edges += len(got)
	}
	t.Logf("%d module versions, %d dependency edges", len(in.Modules), edges)
}

// TestLargeProjectSBOM: the SBOM of a real bundle of a large project's
// full graph validates against the CycloneDX 1.7 JSON schema, and lists
// every bundled module version once with its hashes (issue 17, point 2).
func TestLargeProjectSBOM(t *testing.T) {
	in := readInput(t, largeInput)
	if len(in.Modules) < 5000 {
		t.Fatalf("test data holds %d module versions", len(in.Modules))
	}
	data := encode(t, Build(in))
	if err := schematest.Validate(data); err != nil {
		t.Fatalf("SBOM does not validate: %v", err)
	}
	var d doc
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.SpecVersion != "1.7" {
		t.Fatalf("specVersion %q", d.SpecVersion)
	}
	checkModules(t, in, &d)
	// The input module@version is the main module: the bundle depends on it.
	if len(d.Dependencies) == 0 || d.Dependencies[0].Ref != d.Metadata.Component.BOMRef ||
		len(d.Dependencies[0].DependsOn) != 1 || d.Dependencies[0].DependsOn[0] != "pkg:golang/github.com/gohugoio/hugo@v0.139.0" {
		t.Fatalf("subject's dependencies: %+v", d.Dependencies[:1])
	}
}

// TestSchemaRefusesInvalid shows the validator is not a rubber stamp.
func TestSchemaRefusesInvalid(t *testing.T) {
	in := &Input{Bundle: Subject{Name: "b.gobundle", IndexDigest: "sha256:00"}, Modules: []Module{{Path: "example.com/a", Version: "v1.0.0", ZipSHA256: "00", ZipHash: "h1:x", ModHash: "h1:y", ModSHA256: strings.Repeat("0", 64)}}}
	data := encode(t, Build(in))
	// "00" is no sha256: the schema's hash pattern refuses it.
	if err := schematest.Validate(data); err == nil {
		t.Fatal("a component hash of 2 hex digits validates")
	}
	bad := bytes.Replace(encode(t, Build(&Input{Bundle: in.Bundle})), []byte(`"bomFormat": "CycloneDX"`), []byte(`"bomFormat": "SPDX"`), 1)
	if err := schematest.Validate(bad); err == nil {
		t.Fatal("bomFormat SPDX validates")
	}
}

func writeZip(t *testing.T, name, prefix string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, body := range files {
		w, err := zw.Create(prefix + n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFromBundle reads a real bundle: a project input, a toolchain, edges
// from the go.mod files, the signers and both digests.
func TestFromBundle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	signer, _ := testkit.NoteKey(t, "builder")
	w, err := bundle.NewWriter(bundle.WriterOptions{
		Tool: "gobundle test", TempDir: t.TempDir(), Signers: []note.Signer{signer},
		Inputs: []string{"example.com/app,example.com/app/tools go.work sha256:abcd"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	info := func(v string) []byte { return []byte(`{"Version":"` + v + `","Time":"2024-01-01T00:00:00Z"}`) }
	libZip := filepath.Join(dir, "lib.zip")
	writeZip(t, libZip, "example.com/lib@v1.2.0/", map[string]string{"go.mod": "module example.com/lib\n\nrequire example.com/dep v0.1.0\n", "lib.go": "package lib\n"})
	tcZip := filepath.Join(dir, "tc.zip")
	writeZip(t, tcZip, "golang.org/toolchain@v0.0.1-go1.23.4.linux-amd64/", map[string]string{"go/VERSION": "go1.23.4\n"})
	for _, src := range []bundle.ModuleSource{
		{Path: "example.com/lib", Version: "v1.2.0", Info: info("v1.2.0"), Mod: []byte("module example.com/lib\n\nrequire example.com/dep v0.1.0\n"), ZipFile: libZip},
		{Path: "example.com/dep", Version: "v0.1.0", Info: info("v0.1.0"), Mod: []byte("module example.com/dep\n\nrequire example.com/gone v1.0.0\n")},
		{Path: "golang.org/toolchain", Version: "v0.0.1-go1.23.4.linux-amd64", Info: info("v0.0.1-go1.23.4.linux-amd64"), Mod: []byte("module golang.org/toolchain\n"), ZipFile: tcZip},
	} {
		if err := w.AddModule(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Join(dir, "b.gobundle")
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	in, err := FromBundle(ctx, r, "b.gobundle", strings.Repeat("ab", 32), "sha256:"+strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Bundle.Signers) != 1 || !strings.HasPrefix(in.Bundle.Signers[0], "builder+") {
		t.Fatalf("signers %v", in.Bundle.Signers)
	}
	data := encode(t, Build(in))
	if err := schematest.Validate(data); err != nil {
		t.Fatalf("SBOM does not validate: %v\n%s", err, data)
	}
	var d doc
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	checkModules(t, in, &d)
	var tc, apps int
	for _, c := range d.Components {
		switch {
		case c.Type == cdx.ComponentTypePlatform && prop(c, PropToolchain) == "go1.23.4.linux-amd64":
			tc++
		case c.Type == cdx.ComponentTypeApplication && (c.Name == "example.com/app" || c.Name == "example.com/app/tools"):
			apps++
		}
	}
	if tc != 1 || apps != 2 {
		t.Fatalf("%d toolchain components, %d main modules:\n%s", tc, apps, data)
	}
	for _, want := range []string{`"pkg:golang/example.com/lib@v1.2.0"`, `"gobundle:signer"`, `"value": "` + in.Bundle.Signers[0] + `"`, "sha256:" + r.Digest().String()} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("SBOM lacks %s", want)
		}
	}
	// lib requires dep (bundled): an edge; dep requires gone (not bundled): none.
	lib := in.Modules[1]
	if lib.Path != "example.com/lib" || len(lib.Requires) != 1 || in.Modules[lib.Requires[0]].Path != "example.com/dep" || len(in.Modules[0].Requires) != 0 {
		t.Fatalf("edges: %+v", in.Modules)
	}
}
