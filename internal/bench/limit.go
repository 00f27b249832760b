package main

import (
	"archive/tar"
	"archive/zip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/semver"
)

// stageLimit computes the reference the issue calls the limit to approach:
// a tar of the unique contents of the tree's zips (deduplicated by
// sha256), ordered so that versions of the same file sit side by side
// (module, file path, version), through zstd -19 --long=27 -T1. Expensive:
// it runs once per tree and is not a default stage.
func (b *bench) stageLimit(ctx context.Context) error {
	for _, name := range b.treeNames() {
		t, err := b.tree(ctx, name)
		if err != nil {
			return err
		}
		stock := b.stockSizeFromReport(name)
		if stock == 0 {
			stock = float64(b.cachedStockSize(name, t))
		}
		if stock == 0 {
			out := b.outPath("stock-" + name + ".tar.zst")
			b.log.Info("stock tar|zstd -19 --long=27 -T1 (for the limit's ratio)", "tree", name)
			r, err := b.runStock(ctx, t.Dir, out)
			if err != nil {
				return err
			}
			stock = float64(r.size)
			b.discard(out)
			if err := b.saveStockSize(name, t, r.size); err != nil {
				return err
			}
		}
		out := b.outPath("limit-" + name + ".tar.zst")
		b.log.Info("limit: unique zip contents through zstd -19 --long=27 -T1", "tree", name)
		st, err := b.uniqueContentArchive(ctx, t.Dir, out)
		if err != nil {
			return err
		}
		b.discard(out)
		b.rep.add(figure{Tree: name, Measure: "limit: unique zip contents, tar | zstd -19 --long=27", Unit: unitBytes,
			Value: float64(st.compressed), Stock: stock, HasStock: true, Runs: 1,
			Note:         fmt.Sprintf("%d unique of %d files, %s of %s raw; ordered by module, file, version", st.unique, st.files, formatBytes(float64(st.uniqueBytes)), formatBytes(float64(st.rawBytes))),
			Command:      "go run ./internal/bench -stages limit (writes the tar in Go, pipes it to: zstd -19 --long=27 -T1)",
			StockCommand: stockCommand(b.rel(t.Dir), "stock-"+name+".tar.zst")})
		if len(b.rep.Figures) > 0 {
			f := b.rep.Figures[len(b.rep.Figures)-1]
			b.rep.addNote("%s limit: %s", name, f.Note)
		}
	}
	return nil
}

// stockSizeFromReport returns the stock size the size stage measured.
func (b *bench) stockSizeFromReport(name string) float64 {
	for _, f := range b.rep.Figures {
		if f.Tree == name && f.Measure == "size" && f.HasStock {
			return f.Stock
		}
	}
	return 0
}

type limitStats struct {
	files, unique         int
	rawBytes, uniqueBytes int64
	compressed            int64
}

// zipMember is one file inside one module zip.
type zipMember struct {
	mod, file, version string
	zipIdx, fileIdx    int
	size               int64
}

// uniqueContentArchive writes the tar of the unique zip contents of the
// GOPROXY tree dir through zstd into out.
func (b *bench) uniqueContentArchive(ctx context.Context, dir, out string) (limitStats, error) {
	var st limitStats
	files, err := listModFiles(dir)
	if err != nil {
		return st, err
	}
	var zips []*zip.ReadCloser
	defer func() {
		for _, z := range zips {
			z.Close()
		}
	}()
	seen := map[[32]byte]bool{}
	var members []zipMember
	for _, f := range files {
		if f.Ext != "zip" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		zr, err := zip.OpenReader(filepath.Join(dir, filepath.FromSlash(f.Rel)))
		if err != nil {
			return st, fmt.Errorf("%s: %w", f.Rel, err)
		}
		zips = append(zips, zr)
		prefix := f.Path + "@" + f.Version + "/"
		for i, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "/") {
				continue
			}
			sum, n, err := hashZipFile(zf)
			if err != nil {
				return st, fmt.Errorf("%s: %s: %w", f.Rel, zf.Name, err)
			}
			st.files++
			st.rawBytes += n
			if seen[sum] {
				continue
			}
			seen[sum] = true
			st.unique++
			st.uniqueBytes += n
			members = append(members, zipMember{mod: f.Path, file: strings.TrimPrefix(zf.Name, prefix), version: f.Version,
				zipIdx: len(zips) - 1, fileIdx: i, size: n})
		}
	}
	sort.SliceStable(members, func(i, j int) bool {
		a, c := members[i], members[j]
		if a.mod != c.mod {
			return a.mod < c.mod
		}
		if a.file != c.file {
			return a.file < c.file
		}
		return semver.Compare(a.version, c.version) < 0
	})
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for _, m := range members {
			if err := ctx.Err(); err != nil {
				pw.CloseWithError(err)
				return
			}
			hdr := &tar.Header{Name: m.mod + "@" + m.version + "/" + m.file, Mode: 0o644, Size: m.size, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			rc, err := zips[m.zipIdx].File[m.fileIdx].Open()
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			_, err = io.Copy(tw, rc)
			rc.Close()
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	_, err = b.execute(ctx, proc{stdin: pr, args: []string{"bash", "-c", "zstd -19 --long=27 -T1 -q -c > " + shellQuote([]string{out})}})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return st, err
	}
	st.compressed = fileSize(out)
	return st, nil
}

func hashZipFile(zf *zip.File) ([32]byte, int64, error) {
	rc, err := zf.Open()
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return [32]byte{}, 0, err
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, n, nil
}
