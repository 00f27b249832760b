package resolver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

// Key returns the database's verifier key ("name+hash+key").
func (s *SumDB) Key() string { return s.ops.key }

// Skips reports whether module path is not checked with the database
// (GONOSUMDB, else GOPRIVATE).
func (s *SumDB) Skips(path string) bool { return module.MatchPrefixPatterns(s.noSumDB, path) }

// ReadTiles reads tiles of the database's log as the go command's client
// does: from the client's cache (a partial tile cut from a cached full
// one), else through the mirror chain, falling back to the full tile when
// the partial one is gone. Every tile read is recorded. The data is not
// authenticated: check it against a signed tree head with
// tlog.TileHashReader.
func (s *SumDB) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	errs := make([]error, len(tiles))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, t := range tiles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			out[i], errs[i] = s.readTile(ctx, t)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return out, nil
}

func (s *SumDB) readTile(ctx context.Context, t tlog.Tile) ([]byte, error) {
	o := s.ops
	want := t.W * tlog.HashSize
	full := t
	full.W = 1 << uint(t.H)
	cut := func(data []byte, from tlog.Tile) ([]byte, bool) {
		if len(data) != from.W*tlog.HashSize {
			return nil, false
		}
		return data[:want], true
	}
	for _, c := range []tlog.Tile{t, full} {
		data, ok := o.recorded(c.Path())
		if !ok {
			var err error
			if data, err = o.readCache(s.name + "/" + c.Path()); err != nil {
				continue
			}
		}
		if d, ok := cut(data, c); ok {
			o.record(t.Path(), d)
			return d, nil
		}
	}
	data, err := o.readRemote(ctx, "/"+t.Path())
	if err == nil {
		if d, ok := cut(data, t); ok {
			return d, nil
		}
		return nil, fmt.Errorf("checksum database %s: tile %s: %d bytes, want %d", s.Source(), t.Path(), len(data), want)
	}
	if t != full && errors.Is(err, fs.ErrNotExist) {
		fdata, ferr := o.readRemote(ctx, "/"+full.Path())
		if ferr == nil {
			if d, ok := cut(fdata, full); ok {
				o.record(t.Path(), d)
				return d, nil
			}
			return nil, fmt.Errorf("checksum database %s: tile %s: %d bytes, want %d", s.Source(), full.Path(), len(fdata), full.W*tlog.HashSize)
		}
	}
	return nil, fmt.Errorf("checksum database %s: tile %s: %w", s.Source(), t.Path(), err)
}
