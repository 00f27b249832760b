package sumdbstore

import (
	"context"
	"fmt"
	"github.com/gobundle/gobundle/internal/fsutil"
	"io"

	"github.com/gobundle/gobundle/bundle"
)

// Verify re-checks a store against its bundle's modules: every record is
// proven in the latest tree from the stored tiles, every older tree head is
// proven consistent with it, and every record lists the go.sum hashes the
// bundle holds for that module version. (Signatures were checked by
// [Load].) It returns one problem per bad entry.
func Verify(ctx context.Context, s *Store, modules func(path, version string) (bundle.Module, bool)) []bundle.Problem {
	var problems []bundle.Problem
	for i, err := range ProveRecords(s.Latest, s.Records, s.Tiles) {
		r := s.Records[i]
		entry, nerr := RecordName(s.Name, r.Path, r.Version)
		if nerr != nil {
			entry = s.Name + "/record/" + r.Path + "@" + r.Version
		}
		entry = "sumdb " + entry
		if err != nil {
			problems = append(problems, bundle.Problem{Entry: entry, Err: err})
			continue
		}
		m, ok := modules(r.Path, r.Version)
		if !ok {
			problems = append(problems, bundle.Problem{Entry: entry, Err: fmt.Errorf("record for %s@%s, which the bundle does not hold", r.Path, r.Version)})
			continue
		}
		if err := CheckRecord(s.Name, r, Module{Path: m.Path, Version: m.Version, ModHash: m.ModHash, ZipHash: m.ZipHash}); err != nil {
			problems = append(problems, bundle.Problem{Entry: entry, Err: err})
		}
		if ctx.Err() != nil {
			return append(problems, bundle.Problem{Entry: "verify", Err: ctx.Err()})
		}
	}
	for _, h := range s.Older {
		if err := ProveTree(s.Latest, h, s.Tiles); err != nil {
			problems = append(problems, bundle.Problem{Entry: "sumdb " + TreeName(s.Name, h.Tree.N), Err: err})
		}
	}
	return problems
}

// Unpack writes the store as the checksum database part of a GOPROXY file
// tree: dir/sumdb/<name>/supported, latest, lookup/M@V (record and tree
// head) and the tiles at the widths clients of the latest tree ask for, so
// that GOPROXY=file://DIR answers checksum database requests too.
// Every write goes through an os.Root of dir, so no name from the bundle
// can leave it (names were checked by [Load] too).
func Unpack(ctx context.Context, s *Store, dir string) error {
	if err := CheckName(s.Name); err != nil {
		return err
	}
	root, err := fsutil.CreateRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return s.Files(ctx, func(rel string, data []byte) error {
		return fsutil.WriteInRoot(root, rel, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		})
	})
}

// Files calls fn with each file of the store's part of a GOPROXY file tree,
// as [Unpack] writes it and serve answers it: its slash path below the
// tree's root ("sumdb/<name>/latest", "sumdb/<name>/lookup/M@V",
// "sumdb/<name>/tile/8/L/N[.p/W]", "sumdb/<name>/supported") and content.
func (s *Store) Files(ctx context.Context, fn func(rel string, data []byte) error) error {
	root := "sumdb/" + s.Name + "/"
	emit := func(rel string, data []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(root+rel, data)
	}
	if err := emit("supported", []byte{}); err != nil {
		return err
	}
	if err := emit("latest", s.Latest.Note); err != nil {
		return err
	}
	for _, r := range s.Records {
		rel, err := LookupPath(r.Path, r.Version)
		if err != nil {
			return err
		}
		ans, err := r.Answer(s.Latest)
		if err != nil {
			return err
		}
		if err := emit(rel, ans); err != nil {
			return err
		}
	}
	for _, t := range s.Tiles.List() {
		data, _ := s.Tiles.Get(t)
		if err := emit(t.Path(), data); err != nil {
			return err
		}
	}
	return nil
}
