package bundle

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/gobundle/gobundle/internal/fsutil"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/module"
)

// A GOPROXY file tree holds, for every module path (case-escaped), a
// directory "<path>/@v" with "<version>.info", ".mod" and ".zip" files and a
// "list" file: the layout of $GOMODCACHE/cache/download and of the trees
// Unpack writes.

// isLitter reports files the go command's cache leaves beside module files.
func isLitter(name string) bool {
	return name == "list" || strings.HasPrefix(name, ".") ||
		strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, ".ziphash") ||
		strings.HasSuffix(name, ".partial") || strings.HasSuffix(name, ".tmp")
}

// treeModule is one module version found in a tree, with its files' paths.
type treeModule struct {
	mv             module.Version
	info, mod, zip string
}

// scanTree lists the module versions of a GOPROXY tree in a fixed order.
func scanTree(ctx context.Context, dir string) ([]treeModule, error) {
	found := map[module.Version]*treeModule{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			// The checksum database cache and the vulnerability database
			// are not module content (the command packs them as extras).
			if rel == "sumdb" || rel == "vulndb" || (rel != "." && strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		parent, name := path.Split(rel)
		if !strings.HasSuffix(parent, "/@v/") {
			if strings.HasPrefix(name, ".") || name == "@latest" || strings.HasSuffix(parent, "/@latest/") {
				return nil
			}
			return fmt.Errorf("%s: not in a module's @v directory", p)
		}
		if isLitter(name) {
			return nil
		}
		escPath := strings.TrimSuffix(parent, "/@v/")
		modPath, err := module.UnescapePath(escPath)
		if err != nil {
			return fmt.Errorf("%s: bad module path: %v", p, err)
		}
		ext := path.Ext(name)
		version, err := module.UnescapeVersion(strings.TrimSuffix(name, ext))
		if err != nil || (ext != ".info" && ext != ".mod" && ext != ".zip") {
			return fmt.Errorf("%s: not a module file (want <version>.info, .mod or .zip)", p)
		}
		mv := module.Version{Path: modPath, Version: version}
		if err := module.Check(modPath, version); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		tm := found[mv]
		if tm == nil {
			tm = &treeModule{mv: mv}
			found[mv] = tm
		}
		switch ext {
		case ".info":
			tm.info = p
		case ".mod":
			tm.mod = p
		case ".zip":
			tm.zip = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]treeModule, 0, len(found))
	for _, tm := range found {
		out = append(out, *tm)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].mv, out[j].mv
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return versionLess(a.Version, b.Version)
	})
	return out, nil
}

// Pack adds every module version of the GOPROXY file tree dir (such as
// $GOMODCACHE/cache/download) to w. It skips cache litter (.lock,
// .ziphash, .partial, list files, the sumdb cache) and refuses inconsistent
// input with an error naming the file.
func Pack(ctx context.Context, w *Writer, dir string, progress func(Event)) error {
	mods, err := scanTree(ctx, dir)
	if err != nil {
		return err
	}
	if len(mods) == 0 {
		return fmt.Errorf("%s: no module files found (want a GOPROXY tree such as $GOMODCACHE/cache/download)", dir)
	}
	// Metadata first, then the zips: once the writer knows which zips
	// are to come, it compresses content while the rest is still read.
	var zips []module.Version
	for _, tm := range mods {
		meta := tm
		meta.zip = ""
		if meta.info == "" && meta.mod == "" {
			continue
		}
		if err := packOne(ctx, w, meta); err != nil {
			return err
		}
		if tm.zip != "" {
			zips = append(zips, tm.mv)
		}
	}
	if err := w.Expect(zips); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		done     int64
		wg       sync.WaitGroup
	)
	work := make(chan treeModule)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tm := range work {
				err := packOne(ctx, w, tm)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				done++
				if progress != nil && err == nil {
					progress(Event{Phase: "read", Item: tm.mv.String(), Done: done, Total: int64(len(mods))})
				}
				mu.Unlock()
			}
		}()
	}
	for _, tm := range mods {
		select {
		case work <- tm:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func packOne(ctx context.Context, w *Writer, tm treeModule) error {
	src := ModuleSource{Path: tm.mv.Path, Version: tm.mv.Version, ZipFile: tm.zip}
	var err error
	if tm.info != "" {
		if src.Info, err = os.ReadFile(tm.info); err != nil {
			return err
		}
	}
	if tm.mod != "" {
		if src.Mod, err = os.ReadFile(tm.mod); err != nil {
			return err
		}
	}
	if err := w.AddModule(ctx, src); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		culprit := map[FileKind]string{KindInfo: tm.info, KindMod: tm.mod, KindZip: tm.zip}[fileKindOf(err)]
		if culprit == "" {
			culprit = filepath.Dir(firstNonEmpty(tm.mod, tm.info, tm.zip))
		}
		return fmt.Errorf("%s: %w", culprit, err)
	}
	return nil
}

// Unpack writes the bundle's module files to dir as a GOPROXY file tree,
// with a "list" file per module, so that GOPROXY=file://DIR serves it. Each
// file is streamed to a temporary name and renamed, and every write goes
// through an os.Root of dir: no name from the bundle can leave it. An
// incremental bundle must be linked to its bases (see [UnpackAll] for the
// union of a chain).
func (r *Reader) Unpack(ctx context.Context, dir string, progress func(Event)) error {
	return UnpackAll(ctx, []*Reader{r}, dir, progress)
}

// UnpackAll writes the union of the readers' module files (incremental
// ones linked to their bases) to dir as one GOPROXY file tree, as
// [Reader.Unpack] does for one: a file several hold comes from the first
// that holds it, and each module path's list names the versions any of
// them holds with an .info.
func UnpackAll(ctx context.Context, readers []*Reader, dir string, progress func(Event)) error {
	root, err := fsutil.CreateRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	u := newUnion(readers)
	var done int64
	for _, p := range u.paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := u.unpackPath(ctx, root, p, &done, progress); err != nil {
			return err
		}
	}
	return nil
}

// union is the module versions of several readers, by path and version.
type union struct {
	paths    []string
	versions map[string][]string             // by path, semver order
	entries  map[module.Version][]unionEntry // in reader order
	total    int64
}

type unionEntry struct {
	r *Reader
	m *modEntry
}

func newUnion(readers []*Reader) *union {
	u := &union{versions: map[string][]string{}, entries: map[module.Version][]unionEntry{}}
	for _, r := range readers {
		for i := range r.ix.mods {
			m := &r.ix.mods[i]
			mv := module.Version{Path: m.path, Version: m.version}
			if _, ok := u.entries[mv]; !ok {
				if _, ok := u.versions[m.path]; !ok {
					u.paths = append(u.paths, m.path)
				}
				u.versions[m.path] = append(u.versions[m.path], m.version)
				u.total++
			}
			u.entries[mv] = append(u.entries[mv], unionEntry{r, m})
		}
	}
	sort.Strings(u.paths)
	for _, vs := range u.versions {
		sort.Slice(vs, func(i, j int) bool { return versionLess(vs[i], vs[j]) })
	}
	return u
}

// unpackPath writes the files of every version of module path p, and its
// list file.
func (u *union) unpackPath(ctx context.Context, root *os.Root, p string, done *int64, progress func(Event)) error {
	escPath, err := module.EscapePath(p)
	if err != nil {
		return err
	}
	vdir := escPath + "/@v/"
	var listed []string
	for _, v := range u.versions[p] {
		escVer, err := module.EscapeVersion(v)
		if err != nil {
			return err
		}
		for _, kind := range []FileKind{KindInfo, KindMod, KindZip} {
			ok, err := u.unpackFile(ctx, root, module.Version{Path: p, Version: v}, kind, vdir+escVer+"."+kind.String(), progress)
			if err != nil {
				return err
			}
			if ok && kind == KindInfo {
				listed = append(listed, v)
			}
		}
		*done++
		if progress != nil {
			progress(Event{Phase: "unpack", Item: p + "@" + v, Done: *done, Total: u.total})
		}
	}
	return fsutil.WriteInRoot(root, vdir+"list", func(w io.Writer) error {
		_, err := io.WriteString(w, listFile(listed))
		return err
	})
}

// unpackFile writes the kind file of mv from the first reader holding it
// to name; ok reports whether one held it.
func (u *union) unpackFile(ctx context.Context, root *os.Root, mv module.Version, kind FileKind, name string, progress func(Event)) (ok bool, err error) {
	for _, e := range u.entries[mv] {
		if kind == KindZip {
			if e.m.zipKind == zipNone {
				continue
			}
			return true, e.r.unpackZip(ctx, root, name, e.m, progress)
		}
		f, err := e.r.OpenFile(ctx, mv.Path, mv.Version, kind)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		err = fsutil.WriteInRoot(root, name, func(w io.Writer) error {
			_, err := io.Copy(w, f)
			return err
		})
		f.Close()
		return err == nil, err
	}
	return false, nil
}

// unpackZip writes the zip of m as served ([Reader.WriteZip]) to name.
// A deflated zip this gobundle's compressor does not reproduce is written
// stored instead (correct, checked, larger), with a warning event.
func (r *Reader) unpackZip(ctx context.Context, root *os.Root, name string, m *modEntry, progress func(Event)) error {
	err := fsutil.WriteInRoot(root, name, func(w io.Writer) error {
		_, err := r.WriteZip(ctx, m.path, m.version, w)
		return err
	})
	if !errors.Is(err, ErrNotReproduced) {
		return err
	}
	if progress != nil {
		progress(Event{Phase: "warning", Item: err.Error() + "; wrote the stored zip instead"})
	}
	f, err := r.OpenFile(ctx, m.path, m.version, KindZip)
	if err != nil {
		return err
	}
	defer f.Close()
	return fsutil.WriteInRoot(root, name, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	})
}

// listFile is the @v/list file of a module path whose versions with an
// .info are versions (in semantic version order): those that are not
// pseudo-versions, one a line. Unpack writes it and ServedFiles hashes it.
func listFile(versions []string) string {
	var b strings.Builder
	for _, v := range versions {
		if !module.IsPseudoVersion(v) {
			b.WriteString(v + "\n")
		}
	}
	return b.String()
}

// listFile is the @v/list file of module entries [i, j), all of one path.
func (ix *index) listFile(i, j int) string {
	var vs []string
	for k := i; k < j; k++ {
		if ix.mods[k].info != noBlob {
			vs = append(vs, ix.mods[k].version)
		}
	}
	return listFile(vs)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// ServedFile is one file of the GOPROXY file tree a bundle stands for.
type ServedFile struct {
	Path   string // slash-separated, below the tree's root: "example.com/a/@v/v1.0.0.zip"
	Size   int64
	SHA256 Sum
}

// ServedFiles lists the module files [Reader.Unpack] writes and serve
// answers, with the sha256 the index records for their bytes (checked by
// Verify and by every read), without reading any content: each module
// version's .info, .mod and .zip and each module path's @v/list (the
// versions with an .info that are not pseudo-versions, one a line). They
// come sorted by path.
func (r *Reader) ServedFiles() ([]ServedFile, error) {
	var out []ServedFile
	ix := r.ix
	for i := 0; i < len(ix.mods); {
		j := i
		for j < len(ix.mods) && ix.mods[j].path == ix.mods[i].path {
			j++
		}
		escPath, err := module.EscapePath(ix.mods[i].path)
		if err != nil {
			return nil, err
		}
		for k := i; k < j; k++ {
			m := &ix.mods[k]
			escVer, err := module.EscapeVersion(m.version)
			if err != nil {
				return nil, err
			}
			base := escPath + "/@v/" + escVer
			if m.info != noBlob {
				b := ix.blobs[m.info]
				out = append(out, ServedFile{Path: base + ".info", Size: b.size, SHA256: b.sum})
			}
			if m.mod != noBlob {
				b := ix.blobs[m.mod]
				out = append(out, ServedFile{Path: base + ".mod", Size: b.size, SHA256: b.sum})
			}
			if m.zipKind != zipNone {
				zf := ServedFile{Path: base + ".zip", Size: m.zipSize, SHA256: m.zipSum}
				if m.deflSize != 0 {
					zf.Size, zf.SHA256 = m.deflSize, m.deflSum
				}
				out = append(out, zf)
			}
		}
		list := ix.listFile(i, j)
		out = append(out, ServedFile{Path: escPath + "/@v/list", Size: int64(len(list)), SHA256: sha256.Sum256([]byte(list))})
		i = j
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
