package main

import (
	"path/filepath"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sbom"
)

// printSBOM prints the CycloneDX JSON SBOM of r, whose file has sha256
// fileSum.
func printSBOM(e *env, r *bundle.Reader, fileSum string) error {
	in, err := sbom.FromBundle(e.ctx, r, filepath.Base(r.Name()), fileSum, contentDigest(e, r))
	if err != nil {
		return err
	}
	return sbom.Encode(e.stdout, sbom.Build(in))
}
