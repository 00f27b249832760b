// Package repro owns what lets two people compare bundles built on two
// hosts: the content digest, which depends only on what `gobundle serve`
// answers (not on mirrors, the download cache, time, paths or storage
// settings), and the comparison of a rebuilt bundle with an earlier one
// that `gobundle create --reproduce` reports.
//
// # Content digest
//
// The content digest of a bundle is that of the GOPROXY file tree
// `gobundle unpack` writes (docs/FORMAT.md, "Content digest"): the sha256
// of the lines
//
//	<hex sha256 of the file's bytes>  <slash path below the tree's root>\n
//
// of every file, sorted by path (bytewise): the output of
// `find . -type f | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum` run at
// the tree's root. It is computed here from the index and the checksum
// database entries, without unpacking.
package repro

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/internal/vulndb"
)

// Files returns every file of the GOPROXY tree the bundle stands for (its
// module files and lists, its checksum database files and its
// vulnerability database below vulndb/), sorted by path.
func Files(ctx context.Context, r *bundle.Reader) ([]bundle.ServedFile, error) {
	files, err := r.ServedFiles()
	if err != nil {
		return nil, err
	}
	s, err := sumdbstore.Load(ctx, r, nil)
	if err != nil {
		return nil, fmt.Errorf("checksum database data: %w", err)
	}
	if s != nil {
		err := s.Files(ctx, func(rel string, data []byte) error {
			files = append(files, bundle.ServedFile{Path: rel, Size: int64(len(data)), SHA256: sha256.Sum256(data)})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if _, err := vulndb.Load(ctx, r); err == nil {
		for _, x := range r.Extras() {
			if x.Kind == vulndb.Kind {
				files = append(files, bundle.ServedFile{Path: vulndb.Dir + "/" + x.Name, Size: x.Size, SHA256: x.SHA256})
			}
		}
	} else if !errors.Is(err, vulndb.ErrNone) {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for i := 1; i < len(files); i++ {
		if files[i].Path == files[i-1].Path {
			return nil, fmt.Errorf("two files at %s: %w", files[i].Path, bundle.ErrCorrupt)
		}
	}
	return files, nil
}

// Digest returns the content digest of files, sorted by path.
func Digest(files []bundle.ServedFile) bundle.Sum {
	h := sha256.New()
	var buf []byte
	for _, f := range files {
		buf = hex.AppendEncode(buf[:0], f.SHA256[:])
		buf = append(buf, "  "...)
		buf = append(buf, f.Path...)
		buf = append(buf, '\n')
		h.Write(buf)
	}
	var s bundle.Sum
	h.Sum(s[:0])
	return s
}

// ContentDigest returns the content digest of the bundle.
func ContentDigest(ctx context.Context, r *bundle.Reader) (bundle.Sum, error) {
	files, err := Files(ctx, r)
	if err != nil {
		return bundle.Sum{}, err
	}
	return Digest(files), nil
}
