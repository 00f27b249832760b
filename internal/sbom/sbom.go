// Package sbom owns the software bill of materials of a bundle: a
// CycloneDX document (github.com/CycloneDX/cyclonedx-go, the current spec
// version) listing every module version and toolchain the bundle holds
// with its purl and hashes, the main modules of its inputs, the dependency
// edges its go.mod files state, and the bundle itself (digests, signers)
// as the subject, for the security review at the gate.
//
// [FromBundle] reads what an SBOM describes from a bundle into an [Input];
// [Build] turns an Input into the document. The split lets a test build
// the SBOM of a large real project from a compact dump of its Input.
package sbom

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/package-url/packageurl-go"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/bundle"
)

// Input is what an SBOM describes.
type Input struct {
	Bundle  Subject  `json:"bundle"`
	Modules []Module `json:"modules"`
}

// Subject describes the bundle file itself.
type Subject struct {
	Name          string    `json:"name"`           // file base name
	FileSHA256    string    `json:"file_sha256"`    // hex, what sha256sum prints
	IndexDigest   string    `json:"index_digest"`   // "sha256:…", the bundle digest signatures sign
	ContentDigest string    `json:"content_digest"` // "sha256:…", what serve answers
	Tool          string    `json:"tool"`
	Created       time.Time `json:"created"`
	Inputs        []string  `json:"inputs"`
	Mirrors       []string  `json:"mirrors"`
	Signers       []string  `json:"signers"` // name+hash of each signature, unverified
}

// Module is one bundled module version.
type Module struct {
	Path      string `json:"p"`
	Version   string `json:"v"`
	ZipSHA256 string `json:"zs,omitempty"` // hex sha256 of the zip as served; "" without a zip
	ZipHash   string `json:"zh,omitempty"` // go.sum h1: of the zip
	ModSHA256 string `json:"ms,omitempty"` // hex sha256 of the .mod file as served
	ModHash   string `json:"mh,omitempty"` // go.sum h1: of the go.mod ("/go.mod" line)
	// Requires are the indexes in Input.Modules of the module versions its
	// go.mod requires that the bundle holds.
	Requires []int `json:"r,omitempty"`
}

// maxModFile bounds a go.mod read to find requirements (the go command's
// limit on go.mod files in zips is 16 MiB; real ones are a few KiB).
const maxModFile = 16 << 20

// FromBundle reads the SBOM's input from an open bundle whose file has
// sha256 fileSHA256 (hex) and the given content digest; it reads every
// .mod file to find the dependency edges.
func FromBundle(ctx context.Context, r *bundle.Reader, name, fileSHA256, contentDigest string) (*Input, error) {
	m := r.Meta()
	in := &Input{Bundle: Subject{
		Name: name, FileSHA256: fileSHA256, IndexDigest: "sha256:" + r.Digest().String(), ContentDigest: contentDigest,
		Tool: m.Tool, Created: m.Created, Inputs: m.Inputs, Mirrors: m.Mirrors,
	}}
	for _, s := range r.Signatures() {
		in.Bundle.Signers = append(in.Bundle.Signers, s.String())
	}
	mods := r.Modules()
	at := make(map[module.Version]int, len(mods))
	for i, bm := range mods {
		at[module.Version{Path: bm.Path, Version: bm.Version}] = i
		mm := Module{Path: bm.Path, Version: bm.Version, ZipHash: bm.ZipHash, ModHash: bm.ModHash}
		if bm.Zip != nil {
			mm.ZipSHA256 = bm.Zip.SHA256.String()
		}
		if bm.Mod != nil {
			mm.ModSHA256 = bm.Mod.SHA256.String()
		}
		in.Modules = append(in.Modules, mm)
	}
	for i, bm := range mods {
		if bm.Mod == nil {
			continue
		}
		reqs, err := requires(ctx, r, bm)
		if err != nil {
			return nil, err
		}
		for _, q := range reqs {
			if j, ok := at[q]; ok && j != i {
				in.Modules[i].Requires = append(in.Modules[i].Requires, j)
			}
		}
		sort.Ints(in.Modules[i].Requires)
		in.Modules[i].Requires = compactInts(in.Modules[i].Requires)
	}
	return in, nil
}

// requires returns the requirements the go.mod of bm states.
func requires(ctx context.Context, r *bundle.Reader, bm bundle.Module) ([]module.Version, error) {
	if bm.Mod.Size > maxModFile {
		return nil, fmt.Errorf("%s@%s: go.mod of %d bytes", bm.Path, bm.Version, bm.Mod.Size)
	}
	f, err := r.OpenFile(ctx, bm.Path, bm.Version, bundle.KindMod)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	mf, err := modfile.ParseLax(bm.Path+"@"+bm.Version+"/go.mod", data, nil)
	if err != nil {
		// The go command reads such a go.mod in the graph too (lax):
		// a file it cannot parse states no edges we could show.
		return nil, nil
	}
	out := make([]module.Version, 0, len(mf.Require))
	for _, q := range mf.Require {
		out = append(out, q.Mod)
	}
	return out, nil
}

func compactInts(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Property names of the gobundle namespace in the SBOM.
const (
	PropZipH1     = "gobundle:zip:h1"    // go.sum hash of the zip
	PropModH1     = "gobundle:go.mod:h1" // go.sum hash of the go.mod ("/go.mod" line)
	PropModSHA256 = "gobundle:go.mod:sha256"
	PropFiles     = "gobundle:files" // which files the bundle holds: "info,mod,zip" or "mod"
	PropInput     = "gobundle:input" // the input a main module came from
	PropToolchain = "gobundle:toolchain"
)

// toolchainModule is the module path that carries Go toolchains.
const toolchainModule = "golang.org/toolchain"

// Build returns the CycloneDX SBOM of in: module versions as library
// components (toolchains as platform components) whose bom-ref is their
// purl, with the zip's sha256 as served as their hash and both go.sum
// hashes as properties; the inputs' main modules as application
// components; the go.mod edges as dependencies; and the bundle as the
// metadata component.
func Build(in *Input) *cdx.BOM {
	bom := cdx.NewBOM()
	b := in.Bundle
	bom.SerialNumber = serial(b)
	subjectRef := "bundle:" + b.IndexDigest
	bom.Metadata = &cdx.Metadata{
		Timestamp: b.Created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "gobundle", Version: strings.TrimPrefix(b.Tool, "gobundle "),
		}}},
		Component: subject(b, subjectRef),
	}
	comps := make([]cdx.Component, 0, len(in.Modules)+len(b.Inputs))
	refs := make([]string, len(in.Modules))
	byVersion := make(map[string]int)
	for i, m := range in.Modules {
		c := moduleComponent(m)
		refs[i] = c.BOMRef
		byVersion[m.Path+"@"+m.Version] = i
		comps = append(comps, c)
	}
	deps := make([]cdx.Dependency, 0, len(in.Modules)+len(b.Inputs)+1)
	var mainRefs []string
	seen := make(map[string]bool)
	for _, input := range b.Inputs {
		ref, mains := mainComponents(input, byVersion, refs)
		if ref != "" && !seen[ref] {
			seen[ref] = true
			mainRefs = append(mainRefs, ref)
		}
		for _, c := range mains {
			if seen[c.BOMRef] {
				continue
			}
			seen[c.BOMRef] = true
			comps = append(comps, c)
			deps = append(deps, cdx.Dependency{Ref: c.BOMRef})
			mainRefs = append(mainRefs, c.BOMRef)
		}
	}
	for i, m := range in.Modules {
		d := cdx.Dependency{Ref: refs[i]}
		if len(m.Requires) > 0 {
			on := make([]string, 0, len(m.Requires))
			for _, j := range m.Requires {
				if j >= 0 && j < len(refs) && j != i {
					on = append(on, refs[j])
				}
			}
			d.Dependencies = &on
		}
		deps = append(deps, d)
	}
	subjectDep := cdx.Dependency{Ref: subjectRef}
	if len(mainRefs) > 0 {
		subjectDep.Dependencies = &mainRefs
	}
	deps = append([]cdx.Dependency{subjectDep}, deps...)
	bom.Components = &comps
	bom.Dependencies = &deps
	return bom
}

// Encode writes bom as CycloneDX JSON of the library's current spec
// version.
func Encode(w io.Writer, bom *cdx.BOM) error {
	return cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).Encode(bom)
}

// serial is a version 5-style UUID URN derived from the bundle file's
// sha256: the same file always gets the same serial number.
func serial(b Subject) string {
	h := sha256.Sum256([]byte("gobundle sbom\n" + b.FileSHA256 + "\n" + b.IndexDigest))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// subject is the bundle as the SBOM's metadata component.
func subject(b Subject, ref string) *cdx.Component {
	props := []cdx.Property{
		{Name: "gobundle:index_digest", Value: b.IndexDigest},
		{Name: "gobundle:content_digest", Value: b.ContentDigest},
		{Name: "gobundle:tool", Value: b.Tool},
	}
	for _, s := range b.Signers {
		props = append(props, cdx.Property{Name: "gobundle:signer", Value: s})
	}
	for _, s := range b.Inputs {
		props = append(props, cdx.Property{Name: PropInput, Value: s})
	}
	for _, s := range b.Mirrors {
		props = append(props, cdx.Property{Name: "gobundle:mirror", Value: s})
	}
	c := &cdx.Component{
		BOMRef: ref, Type: cdx.ComponentTypeData, Name: b.Name, Version: b.IndexDigest,
		Description: "gobundle bundle: Go module versions for a GOPROXY inside an air gap",
		Properties:  &props,
	}
	if b.FileSHA256 != "" {
		c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: b.FileSHA256}}
	}
	return c
}

// Purl returns the package URL of module path@version.
func Purl(p, version string) string {
	ns, name := path.Split(p)
	return packageurl.NewPackageURL(packageurl.TypeGolang, strings.TrimSuffix(ns, "/"), name, version, nil, "").ToString()
}

// moduleComponent is the component of one module version.
func moduleComponent(m Module) cdx.Component {
	purl := Purl(m.Path, m.Version)
	c := cdx.Component{BOMRef: purl, Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, PackageURL: purl}
	var props []cdx.Property
	files := "mod"
	if m.ZipSHA256 != "" {
		files = "mod,zip"
		c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: m.ZipSHA256}}
		props = append(props, cdx.Property{Name: PropZipH1, Value: m.ZipHash})
	}
	if m.ModHash != "" {
		props = append(props, cdx.Property{Name: PropModH1, Value: m.ModHash})
	}
	if m.ModSHA256 != "" {
		props = append(props, cdx.Property{Name: PropModSHA256, Value: m.ModSHA256})
	}
	if m.ModSHA256 == "" {
		files = strings.TrimPrefix(files, "mod,")
	}
	props = append(props, cdx.Property{Name: PropFiles, Value: files})
	if m.Path == toolchainModule {
		// v0.0.1-go1.23.4.linux-amd64: the go toolchain go1.23.4 for
		// linux/amd64, as the go command downloads it.
		c.Type = cdx.ComponentTypePlatform
		c.Description = "Go toolchain"
		if _, tv, ok := strings.Cut(m.Version, "-"); ok {
			props = append(props, cdx.Property{Name: PropToolchain, Value: tv})
		}
	}
	c.Properties = &props
	return c
}

// mainComponents returns the main modules an input names: for a
// module@version input, the ref of that bundled module version; for a
// project input ("path[,path…] go.mod sha256:…"), an application component
// per main module path, whose go.mod files are not in the bundle (so they
// have no edges).
func mainComponents(input string, byVersion map[string]int, refs []string) (string, []cdx.Component) {
	f := strings.Fields(input)
	if len(f) == 1 {
		if i, ok := byVersion[input]; ok {
			return refs[i], nil
		}
		return "", nil
	}
	if len(f) != 3 || (path.Base(f[1]) != "go.mod" && path.Base(f[1]) != "go.work") || !strings.HasPrefix(f[2], "sha256:") {
		return "", nil // not a project (pack's "GOPROXY file tree")
	}
	first := f[0]
	var out []cdx.Component
	for _, p := range strings.Split(first, ",") {
		if module.CheckImportPath(p) != nil {
			continue
		}
		purl := Purl(p, "")
		props := []cdx.Property{{Name: PropInput, Value: input}}
		out = append(out, cdx.Component{
			BOMRef: "main:" + purl, Type: cdx.ComponentTypeApplication, Name: p, PackageURL: purl,
			Description: "main module of an input of the bundle", Properties: &props,
		})
	}
	return "", out
}
