package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/resolver"
)

// collectSumDB gets the checksum database records of every bundled module
// version and the tiles proving them in one signed tree head (tree, or the
// newest when nil), plus the proofs that the trees of the bundles in bases
// (opened, and linked when incremental) are contained in it.
func collectSumDB(ctx context.Context, res *resolver.Result, sumdb *resolver.SumDB, bases []*bundle.Reader, tree []byte) (*sumdbstore.Data, error) {
	cfg := sumdbstore.CollectConfig{Source: sumdb, Skip: sumdb.Skips, Tree: tree}
	noRecord := map[string]bool{}
	for _, g := range res.Gaps {
		if g.File == "sumdb" {
			noRecord[g.Path+"@"+g.Version] = true
		}
	}
	for _, m := range res.Modules {
		if noRecord[m.Path+"@"+m.Version] {
			continue // the database does not know it; go.sum pinned it
		}
		cfg.Modules = append(cfg.Modules, sumdbstore.Module{Path: m.Path, Version: m.Version, ModHash: m.ModHash, ZipHash: m.ZipHash})
	}
	for _, b := range bases {
		s, err := sumdbstore.Load(ctx, b, map[string]string{sumdb.Name(): sumdb.Key()})
		if err != nil {
			return nil, fmt.Errorf("create: base %s: %w", b.Name(), err)
		}
		if s == nil {
			return nil, fmt.Errorf("create: base %s: the bundle holds no checksum database data", b.Name())
		}
		cfg.Bases = append(cfg.Bases, s)
	}
	d, err := sumdbstore.Collect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return d, nil
}

// pinnedTree returns the signed tree head to prove records in: from
// --sumdb-tree, or the bundle being reproduced; nil for the newest.
func (j *job) pinnedTree(ctx context.Context) ([]byte, error) {
	from, flag := j.opts.SumDBTree, "--sumdb-tree"
	if j.target != nil {
		if !j.target.hasTree {
			return nil, nil
		}
		from, flag = j.target.file, "--reproduce"
	}
	if from == "" {
		return nil, nil
	}
	if j.sumdb == nil {
		return nil, UsageError{fmt.Errorf("create: %s needs the checksum database (not --sumdb off)", flag)}
	}
	tree, err := readTreeHead(ctx, from, j.sumdb.Name(), j.sumdb.Key())
	if err != nil {
		return nil, fmt.Errorf("create: %s: %w", flag, err)
	}
	return tree, nil
}

// readTreeHead returns the signed tree head of database db in from: an
// earlier bundle (its latest tree head) or a file holding a signed tree
// head (such as the sumdb/<db>/latest that unpack writes). Its signature is
// checked later, with the database's key.
func readTreeHead(ctx context.Context, from, db, key string) ([]byte, error) {
	f, err := os.Open(from)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const maxHead = 64 << 10 // a signed note is a few hundred bytes
	data, err := io.ReadAll(io.LimitReader(f, maxHead+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if !bytes.HasPrefix(data, []byte(bundle.Magic)) {
		if len(data) > maxHead {
			return nil, fmt.Errorf("%s: neither a bundle nor a signed tree head (over %d bytes)", from, maxHead)
		}
		return data, nil
	}
	s, err := loadSumDBStore(ctx, from, map[string]string{db: key})
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%s: the bundle holds no checksum database data", from)
	}
	if s.Name != db {
		return nil, fmt.Errorf("%s: the bundle holds checksum database %s, not %s", from, s.Name, db)
	}
	return s.Latest.Note, nil
}

// loadSumDBStore opens bundle file name and loads its checksum database
// data, checked with keys.
func loadSumDBStore(ctx context.Context, name string, keys map[string]string) (*sumdbstore.Store, error) {
	r, err := bundle.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	s, err := sumdbstore.Load(ctx, r, keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}
