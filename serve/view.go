package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
)

// BundleExt is the file name extension of the bundles that serve picks up
// from a directory. Files named explicitly are served whatever their name.
const BundleExt = ".gobundle"

// ConflictError reports that two bundles hold different content for the
// same module version, so they cannot be served together.
type ConflictError struct {
	Module, Version string
	What            string // "info", "go.mod", "zip"
	Bundle1         string
	Bundle2         string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s@%s: %s differs between bundles %s and %s", e.Module, e.Version, e.What, e.Bundle1, e.Bundle2)
}

// openBundle is one opened bundle file, shared by the views that serve it
// and closed when the last of them lets it go.
type openBundle struct {
	src  source
	name string      // as given, or joined with its directory
	stat os.FileInfo // at open time, to recognise the same file on reload
	// fromDir says it was found in a directory, not named as a file.
	fromDir bool
	refs    atomic.Int64
	once    sync.Once

	// Checksum database data, loaded once (sumdbStore).
	sdOnce   sync.Once
	sd       *sumdbstore.Store
	sdErr    error
	sdLogged atomic.Bool // the refusal of its data was logged and counted

	vuln vulnState // its vulnerability database, loaded once
}

func (b *openBundle) retain() { b.refs.Add(1) }

func (b *openBundle) release(log *slog.Logger) {
	if b.refs.Add(-1) == 0 {
		b.once.Do(func() {
			if err := b.src.Close(); err != nil {
				log.Warn("closing bundle", "bundle", b.name, "err", err)
			}
		})
	}
}

// fileLoc is where one module file is served from.
type fileLoc struct {
	b  *openBundle
	fi *bundle.FileInfo
	// hot holds the bytes of a small .info or .mod once read from the
	// bundle; they are checked against fi.SHA256 again each time sent.
	hot atomic.Pointer[hotFile]
	// stored is the stored form of a zip whose fi is the deflated one:
	// what is served when the deflated form can't be made here.
	stored *bundle.FileInfo
}

// hotFile is a small file kept in memory with its ready-made headers.
type hotFile struct {
	data []byte
	etag []string
	clen []string
}

func (l *fileLoc) ok() bool { return l.b != nil }

// modVersion is one module version of the merged view.
type modVersion struct {
	version          string // canonical
	info, mod, zip   fileLoc
	modHash, zipHash string
	from             *openBundle // first bundle that listed it
}

func (mv *modVersion) loc(kind bundle.FileKind) *fileLoc {
	switch kind {
	case bundle.KindInfo:
		return &mv.info
	case bundle.KindMod:
		return &mv.mod
	case bundle.KindZip:
		return &mv.zip
	}
	return nil
}

// modEntry is one module path of the merged view.
type modEntry struct {
	path     string                 // unescaped
	versions map[string]*modVersion // by escaped version
	sorted   []*modVersion          // by semver

	listOnce sync.Once
	list     []byte
	listTag  string

	latestMu  sync.Mutex
	latest    []byte // body of @latest once computed
	latestTag string
}

// view is an immutable merged view of a set of bundles. Requests hold a
// reference while they run, so a reload never closes a reader under them.
type view struct {
	bundles  []*openBundle
	mods     map[string]*modEntry // by escaped module path
	versions int
	sig      string // signature of the bundle files, to notice changes
	names    string // bundle base names for messages
	// sumdbs holds the checksum databases of the bundles, by name.
	sumdbs map[string]*sumdbstore.Union
	// vuln is the vulnerability database served, nil if none.
	vuln *vulnPick
	// bad lists the bundle files that could not be opened (truncated,
	// half-copied, not a bundle): skipped, and named by /healthz and
	// /metrics until they change.
	bad []badBundle

	hotBytes atomic.Int64 // held by fileLoc.hot copies

	refs atomic.Int64
	once sync.Once
}

func (v *view) release(log *slog.Logger) {
	if v.refs.Add(-1) == 0 {
		v.once.Do(func() {
			for _, b := range v.bundles {
				b.release(log)
			}
		})
	}
}

// badBundle is a bundle file skipped because it could not be opened.
type badBundle struct {
	name      string
	err       error
	untrusted bool // not signed as Options.SignerKeys require
}

// bundleFile is a bundle file found by expanding the configured paths.
type bundleFile struct {
	name    string
	stat    os.FileInfo
	fromDir bool
}

// expand lists the bundle files named by paths: files as they are, and the
// *.gobundle files of directories (not hidden ones, which are usually being
// written), in name order. It returns the files and a signature that
// changes when any of them does.
func expand(paths []string) ([]bundleFile, string, error) {
	var out []bundleFile
	seen := make(map[string]bool)
	add := func(name string, st os.FileInfo, fromDir bool) {
		abs, err := filepath.Abs(name)
		if err != nil {
			abs = name
		}
		if seen[abs] {
			return
		}
		seen[abs] = true
		out = append(out, bundleFile{name: name, stat: st, fromDir: fromDir})
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, "", fmt.Errorf("bundle %s: %w", p, err)
		}
		if !st.IsDir() {
			add(p, st, false)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, "", fmt.Errorf("bundle directory %s: %w", p, err)
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, BundleExt) {
				continue
			}
			full := filepath.Join(p, n)
			st, err := os.Stat(full)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // removed meanwhile
				}
				return nil, "", fmt.Errorf("bundle %s: %w", full, err)
			}
			if !st.Mode().IsRegular() {
				continue
			}
			add(full, st, true)
		}
	}
	var sig strings.Builder
	for _, f := range out {
		fmt.Fprintf(&sig, "%s\x00%d\x00%d\n", f.name, f.stat.Size(), f.stat.ModTime().UnixNano())
	}
	return out, sig.String(), nil
}

// buildView opens the bundles in files, reusing those of old that are the
// same files, and merges them. On error every bundle it opened is closed
// again and old is left as it was.
func buildView(ctx context.Context, files []bundleFile, sig string, old *view, s *Server) (_ *view, err error) {
	open, log := s.open, s.log
	v := &view{sig: sig, mods: make(map[string]*modEntry)}
	v.refs.Store(1)
	defer func() {
		if err != nil {
			v.release(log)
		}
	}()
	for _, f := range files {
		var b *openBundle
		if old != nil {
			for _, ob := range old.bundles {
				if ob.name == f.name && os.SameFile(ob.stat, f.stat) &&
					ob.stat.Size() == f.stat.Size() && ob.stat.ModTime().Equal(f.stat.ModTime()) {
					b = ob
					break
				}
			}
		}
		if b == nil {
			src, err := open(ctx, f.name)
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				var se *bundle.SignatureError
				untrusted := errors.As(err, &se)
				if untrusted && !f.fromDir {
					// A file the operator named must be served as named.
					return nil, err
				}
				// One bad file must not keep the good ones from being
				// served: skip it, and say so.
				if untrusted {
					log.Error("skipping bundle not signed by a trusted key", "bundle", f.name, "err", err)
				} else {
					log.Warn("skipping bad bundle", "bundle", f.name, "err", err)
				}
				v.bad = append(v.bad, badBundle{name: f.name, err: err, untrusted: untrusted})
				continue
			}
			b = &openBundle{src: src, name: f.name, stat: f.stat, fromDir: f.fromDir}
		}
		b.retain()
		v.bundles = append(v.bundles, b)
	}
	if err := v.linkBundles(log); err != nil {
		return nil, err
	}
	names := make([]string, len(v.bundles))
	for i, b := range v.bundles {
		names[i] = filepath.Base(b.name)
	}
	if len(names) > 4 {
		names = append(names[:4:4], fmt.Sprintf("and %d more", len(v.bundles)-4))
	}
	v.names = strings.Join(names, ", ")
	for _, b := range v.bundles {
		if err := v.merge(b, log); err != nil {
			return nil, err
		}
	}
	for _, me := range v.mods {
		slices.SortFunc(me.sorted, func(a, b *modVersion) int { return semver.Compare(a.version, b.version) })
	}
	if err := v.loadSumDBs(ctx, s.opts.SumDBKeys, log, &s.metrics.sumdbRefused); err != nil {
		return nil, err
	}
	v.pickVulnDB(ctx, log)
	return v, nil
}

// merge adds the module versions of b to the view.
func (v *view) merge(b *openBundle, log *slog.Logger) error {
	for _, m := range b.src.Modules() {
		esc, err := module.EscapePath(m.Path)
		if err != nil {
			log.Warn("skipping module with invalid path", "bundle", b.name, "module", m.Path, "err", err)
			continue
		}
		escV, err := module.EscapeVersion(m.Version)
		if err != nil || !semver.IsValid(m.Version) {
			log.Warn("skipping module with invalid version", "bundle", b.name, "module", m.Path+"@"+m.Version)
			continue
		}
		me := v.mods[esc]
		if me == nil {
			me = &modEntry{path: m.Path, versions: make(map[string]*modVersion, 1)}
			v.mods[esc] = me
		}
		mv := me.versions[escV]
		if mv == nil {
			mv = &modVersion{version: m.Version, from: b, modHash: m.ModHash, zipHash: m.ZipHash}
			me.versions[escV] = mv
			me.sorted = append(me.sorted, mv)
			v.versions++
		} else if err := mv.check(m, b); err != nil {
			return err
		}
		mv.add(m, b)
	}
	return nil
}

// check reports whether module version m of bundle b has the same content
// as what the view holds already.
func (mv *modVersion) check(m bundle.Module, b *openBundle) error {
	conflict := func(what string) error {
		return &ConflictError{Module: m.Path, Version: m.Version, What: what, Bundle1: mv.from.name, Bundle2: b.name}
	}
	if mv.info.ok() && m.Info != nil && mv.info.fi.SHA256 != m.Info.SHA256 {
		return conflict("info")
	}
	if mv.mod.ok() && m.Mod != nil && mv.mod.fi.SHA256 != m.Mod.SHA256 {
		return conflict("go.mod")
	}
	if mv.modHash != "" && m.ModHash != "" && mv.modHash != m.ModHash {
		return conflict("go.mod")
	}
	if mv.zipHash != "" && m.ZipHash != "" {
		if mv.zipHash != m.ZipHash {
			return conflict("zip")
		}
	} else if mv.zip.ok() && m.Zip != nil && mv.zip.fi.SHA256 != m.Zip.SHA256 {
		return conflict("zip")
	}
	return nil
}

// add fills in the files of m that the view lacks so far from b.
func (mv *modVersion) add(m bundle.Module, b *openBundle) {
	if !mv.info.ok() && m.Info != nil {
		mv.info.b, mv.info.fi = b, m.Info
	}
	if !mv.mod.ok() && m.Mod != nil {
		mv.mod.b, mv.mod.fi = b, m.Mod
	}
	if !mv.zip.ok() && m.Zip != nil {
		mv.zip.b, mv.zip.fi, mv.zip.stored = b, m.Zip, m.ZipStored
	}
	if mv.modHash == "" {
		mv.modHash = m.ModHash
	}
	if mv.zipHash == "" {
		mv.zipHash = m.ZipHash
	}
}
