// Command dumpinput writes the SBOM input of a bundle (sbom.Input, module
// versions with their hashes and go.mod edges) as gzipped JSON: how
// internal/sbom's testdata of a large real project was made, so that make
// test validates that project's SBOM without keeping its bundle.
//
//	go run ./internal/sbom/dumpinput BUNDLE OUT.json.gz
package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/fsutil"
	"github.com/gobundle/gobundle/internal/repro"
	"github.com/gobundle/gobundle/internal/sbom"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: dumpinput BUNDLE OUT.json.gz")
		os.Exit(2)
	}
	if err := dump(context.Background(), os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "dumpinput:", err)
		os.Exit(1)
	}
}

func dump(ctx context.Context, name, out string) error {
	r, err := bundle.Open(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	sum, err := fsutil.FileSHA256(name)
	if err != nil {
		return err
	}
	cd, err := repro.ContentDigest(ctx, r)
	if err != nil {
		return err
	}
	in, err := sbom.FromBundle(ctx, r, filepath.Base(name), sum, "sha256:"+cd.String())
	if err != nil {
		return err
	}
	// Mirror URLs name hosts, which test data never does.
	for i := range in.Bundle.Mirrors {
		in.Bundle.Mirrors[i] = fmt.Sprintf("mirror%d.example", i+1)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	enc := json.NewEncoder(zw)
	if err := enc.Encode(in); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
