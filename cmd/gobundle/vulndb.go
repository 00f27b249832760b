package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kong"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/pipeline"
	"github.com/gobundle/gobundle/internal/vulndb"
	"github.com/gobundle/gobundle/resolver"
)

// inspectVulnDB describes the bundle's vulnerability database: nil
// without one; one that fails its checks gives its error.
func inspectVulnDB(ctx context.Context, r *bundle.Reader) (*vulndb.Summary, error) {
	st, err := vulndb.Load(ctx, r)
	if errors.Is(err, vulndb.ErrNone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &st.Summary, nil
}

// vulnDBLine is inspect's line for the database.
func vulnDBLine(s *vulndb.Summary, err error) string {
	if err != nil {
		return "unusable: " + err.Error()
	}
	mod := s.Module
	if mod == "" {
		mod = vulndb.ModulePath + " (version not recorded)"
	}
	return fmt.Sprintf("%s: %d entries, modified %s, %s", mod, s.Entries, s.Modified.UTC().Format(time.RFC3339), humanBytes(s.Bytes))
}

// unpackVulnDB writes the newest vulnerability database of the bundles
// below dir/vulndb, so that govulncheck -db file://DIR/vulndb reads it.
// A database that fails its checks is not written (unusable says why).
func unpackVulnDB(ctx context.Context, rs []*bundle.Reader, dir string) (db *vulndb.Stored, unusable, err error) {
	for _, r := range rs {
		st, err := vulndb.Load(ctx, r)
		switch {
		case errors.Is(err, vulndb.ErrNone):
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case err != nil:
			unusable = fmt.Errorf("%s: %w", r.Name(), err)
		case db == nil || st.Modified.After(db.Modified):
			db = st
		}
	}
	if db == nil {
		return nil, unusable, nil
	}
	return db, unusable, db.Unpack(ctx, filepath.Join(dir, vulndb.Dir))
}

// addTreeVulnDB adds the vulnerability database of an unpacked tree
// (dir/vulndb, as unpack writes it), if any, to w.
func addTreeVulnDB(ctx context.Context, w *bundle.Writer, dir string) error {
	root, err := os.OpenRoot(filepath.Join(dir, vulndb.Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	db, err := vulndb.ReadDir(ctx, root.FS())
	if errors.Is(err, vulndb.ErrNone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, vulndb.Dir), err)
	}
	for _, x := range db.Extras(vulndb.Dir) {
		if err := w.AddExtra(ctx, x); err != nil {
			return err
		}
	}
	return nil
}

// vulnDBFlag is create's --vulndb [VERSION]: a flag that may take a
// golang.org/x/vulndb version (--vulndb=V, or --vulndb V when V is a
// semantic version); without one, the newest the mirror lists.
type vulnDBFlag struct {
	Set     bool
	Version string
}

// Decode implements kong.MapperValue.
func (f *vulnDBFlag) Decode(ctx *kong.DecodeContext) error {
	f.Set = true
	t := ctx.Scan.Peek()
	s, isString := t.Value.(string)
	switch {
	case t.Type == kong.FlagValueToken:
		ctx.Scan.Pop()
		if !isString {
			return fmt.Errorf("--vulndb: want a version of %s", vulndb.ModulePath)
		}
	case isString && (t.Type == kong.UntypedToken || t.Type == kong.PositionalArgumentToken) && semver.IsValid(s):
		ctx.Scan.Pop()
	default:
		return nil
	}
	if s == "" || s == "latest" {
		return nil
	}
	if !semver.IsValid(s) || module.CanonicalVersion(s) != s {
		return fmt.Errorf("--vulndb %s: not a canonical version of %s (such as v0.0.0-20261105234957-e22db6528018)", s, vulndb.ModulePath)
	}
	f.Version = s
	return nil
}

// IsBool lets --vulndb stand without a value.
func (f *vulnDBFlag) IsBool() bool { return true }

// printSummaryLoop prints create's module@latest choices and the
// vulnerability database bundled.
func printSummaryLoop(w io.Writer, latest []resolver.Choice, vdb *pipeline.VulnDB) {
	for _, c := range latest {
		fmt.Fprintf(w, "  %s: %s\n", c.Query, c.Version)
	}
	if vdb != nil {
		fmt.Fprintf(w, "  vulnerability database %s: %d entries, modified %s\n", vdb.Module, vdb.Entries, vdb.Modified)
	}
}
