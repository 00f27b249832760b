package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sort"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
)

// ConflictError reports one module version (or extra) that two bundles
// hold with different content.
type ConflictError struct {
	Entry            string // "path@version", or "kind name" for an extra
	What             string // ".info", ".mod", ".zip", "content"
	Bundle1, Bundle2 string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %s differs between %s and %s", e.Entry, e.What, e.Bundle1, e.Bundle2)
}

// sortByDigest returns readers sorted by bundle digest: the order Merge
// takes them in, so that the result does not depend on the order given.
func sortByDigest(readers []*Reader) []*Reader {
	rs := append([]*Reader(nil), readers...)
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].Digest(), rs[j].Digest()
		return bytes.Compare(a[:], b[:]) < 0
	})
	return rs
}

// CheckConflicts reports the first module version two of the readers hold
// with different content (.info or .mod bytes, zip h1: hash), or extra
// (same kind and name) with different bytes, naming both bundles; skip, if
// not nil, leaves out extras of the kinds it reports.
func CheckConflicts(readers []*Reader, skip func(kind string) bool) error {
	type seen struct {
		m Module
		r *Reader
	}
	mods := map[module.Version]seen{}
	for _, r := range readers {
		for _, m := range r.Modules() {
			mv := module.Version{Path: m.Path, Version: m.Version}
			o, ok := mods[mv]
			if !ok {
				mods[mv] = seen{m, r}
				continue
			}
			conflict := func(what string) error {
				return &ConflictError{Entry: m.Path + "@" + m.Version, What: what, Bundle1: o.r.Name(), Bundle2: r.Name()}
			}
			switch {
			case o.m.Info != nil && m.Info != nil && o.m.Info.SHA256 != m.Info.SHA256:
				return conflict(".info")
			case o.m.ModHash != "" && m.ModHash != "" && o.m.ModHash != m.ModHash:
				return conflict(".mod")
			case o.m.ZipHash != "" && m.ZipHash != "" && o.m.ZipHash != m.ZipHash:
				return conflict(".zip")
			}
		}
	}
	extras := map[[2]string]seen{}
	for _, r := range readers {
		for _, x := range r.Extras() {
			if skip != nil && skip(x.Kind) || x.Kind == ExtraKindZips {
				continue // a table of zips describes its own bundle's modules
			}
			k := [2]string{x.Kind, x.Name}
			if o, ok := extras[k]; ok {
				if o.m.Info.SHA256 != x.SHA256 {
					return &ConflictError{Entry: x.Kind + " " + x.Name, What: "content", Bundle1: o.r.Name(), Bundle2: r.Name()}
				}
				continue
			}
			extras[k] = seen{Module{Info: &FileInfo{SHA256: x.SHA256}}, r}
		}
	}
	return nil
}

// Merge adds every module version and extra of readers (incremental ones
// linked to their bases) to w, which writes one bundle of their union. A
// module version or extra held by two of them with different content is a
// *ConflictError naming both. Extras of the kinds skip reports are left to
// the caller (the checksum database's, whose tree heads merge by rules of
// their own). Every byte is read through the readers, so it is checked
// against their sha256s, and every go.sum hash is computed again.
func Merge(ctx context.Context, w *Writer, readers []*Reader, skip func(kind string) bool, progress func(Event)) error {
	for _, r := range readers {
		if !r.Linked() {
			return &MissingBaseError{Bundle: r.Name(), Digest: r.MissingBases()[0]}
		}
	}
	rs := sortByDigest(readers)
	if err := CheckConflicts(rs, skip); err != nil {
		return err
	}
	var total, done int64
	for _, r := range rs {
		total += int64(len(r.ix.mods))
	}
	for _, r := range rs {
		for i := range r.ix.mods {
			m := &r.ix.mods[i]
			if err := w.CopyModule(ctx, r, m.path, m.version); err != nil {
				return err
			}
			done++
			if progress != nil {
				progress(Event{Phase: "read", Item: m.path + "@" + m.version, Done: done, Total: total})
			}
		}
		for _, x := range r.ix.extras {
			if skip != nil && skip(x.kind) {
				continue
			}
			data, err := r.blob(ctx, x.blob, x.kind+" "+x.name)
			if err != nil {
				return err
			}
			if err := w.AddExtra(ctx, ExtraSource{Kind: x.kind, Name: x.name, Data: data, Origin: r.origin(x.origin)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// CopyModule adds module version path@version of r (linked to its bases
// when incremental) to w, reading its files through r: every blob is
// checked against its sha256 as it is read, and the go.mod and zip h1:
// hashes are computed again and must be those r's index records.
func (w *Writer) CopyModule(ctx context.Context, r *Reader, path, version string) error {
	e := r.find(path, version)
	if e == nil {
		return fmt.Errorf("%s: %s@%s: not in the bundle", r.name, path, version)
	}
	name := path + "@" + version
	src := ModuleSource{Path: path, Version: version, InfoOrigin: r.origin(e.infoOrigin),
		ModOrigin: r.origin(e.modOrigin), ZipOrigin: r.origin(e.zipOrigin)}
	var err error
	if e.info != noBlob {
		if src.Info, err = r.blob(ctx, e.info, name+" info"); err != nil {
			return err
		}
		if err := checkInfo(src.Info, version); err != nil {
			return fmt.Errorf("%s: %s info: %v: %w", r.name, name, err, ErrCorrupt)
		}
	}
	var modHash string
	if e.mod != noBlob {
		if src.Mod, err = r.blob(ctx, e.mod, name+" mod"); err != nil {
			return err
		}
		if modHash, err = goModHash(src.Mod); err != nil || modHash != e.modHash {
			return fmt.Errorf("%s: %s mod: go.mod hash %s, index says %s: %w", r.name, name, modHash, e.modHash, ErrCorrupt)
		}
	}
	var zc *zipContent
	switch e.zipKind {
	case zipRebuilt:
		zc, err = w.copyRebuiltZip(ctx, r, e)
	case zipRaw:
		zc, err = copyRawZip(ctx, r, e)
	}
	if err != nil {
		return err
	}
	if zc != nil && zc.hash != e.zipHash {
		return fmt.Errorf("%s: %s zip: h1 hash %s, index says %s: %w", r.name, name, zc.hash, e.zipHash, ErrCorrupt)
	}
	return w.addModule(src, modHash, zc)
}

// copyRebuiltZip reads the files of e's rebuilt zip from r, spooling each,
// and computes its h1: hash and the sha256 of the zip as served.
func (w *Writer) copyRebuiltZip(ctx context.Context, r *Reader, e *modEntry) (*zipContent, error) {
	entry := e.path + "@" + e.version + " zip"
	prefix := zipPrefix(e.path, e.version)
	layout := newZipLayout(e, r.ix.blobs)
	full := make([]string, len(e.files))
	byName := make(map[string]int, len(e.files))
	for i, f := range e.files {
		full[i] = prefix + f.name
		byName[full[i]] = i
	}
	zc := &zipContent{size: e.zipSize, mirrorSize: e.mirrorSize}
	zipSum := sha256.New()
	var defl *deflatedSum // made by this writer's compressor, as create makes it
	if !w.opts.NoDeflate {
		defl = newDeflatedSum()
	}
	var err error
	zc.hash, err = dirhash.Hash1(full, func(n string) (io.ReadCloser, error) {
		i := byName[n]
		data, err := r.blob(ctx, e.files[i].blob, entry)
		if err != nil {
			return nil, err
		}
		// Hash1 reads in name order, the order a rebuilt zip lists its
		// files in (the index checks it), so the served bytes follow.
		zipSum.Write(layout.localHeader(len(zc.files)))
		zipSum.Write(data)
		if defl != nil {
			if err := defl.add(n, data, r.ix.blobs[e.files[i].blob].crc); err != nil {
				return nil, err
			}
		}
		c := newContent(data)
		if err := w.spoolContent(&c); err != nil {
			return nil, err
		}
		zc.names = append(zc.names, e.files[i].name)
		zc.files = append(zc.files, c)
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return nil, err
	}
	zipSum.Write(layout.centralDirectory())
	copy(zc.sum[:], zipSum.Sum(nil))
	if zc.sum != e.zipSum {
		return nil, fmt.Errorf("%s: %s: zip sha256 mismatch: %w", r.name, entry, ErrCorrupt)
	}
	if defl != nil {
		if zc.deflSize, zc.deflSum, err = defl.result(); err != nil {
			return nil, err
		}
	}
	return zc, nil
}

// copyRawZip reads e's zip, stored as its original bytes, from r.
func copyRawZip(ctx context.Context, r *Reader, e *modEntry) (*zipContent, error) {
	entry := e.path + "@" + e.version + " zip"
	data, err := r.blob(ctx, e.zipBlob, entry)
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v: %w", r.name, entry, err, ErrCorrupt)
	}
	files := make([]string, len(zr.File))
	byName := make(map[string]*zip.File, len(zr.File))
	for i, f := range zr.File {
		files[i] = f.Name
		byName[f.Name] = f
	}
	h, err := dirhash.Hash1(files, func(n string) (io.ReadCloser, error) { return byName[n].Open() })
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v: %w", r.name, entry, err, ErrCorrupt)
	}
	c := newContent(data)
	return &zipContent{hash: h, raw: &c}, nil
}
