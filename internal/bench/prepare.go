package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gobundle/gobundle/internal/fsutil"
	"go/version"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// tree is one prepared input: a GOPROXY file tree (a module cache's
// cache/download) and, for real projects, the project whose `go mod
// download all` filled it.
type tree struct {
	Name       string    `json:"name"`
	Dir        string    `json:"dir"`         // the GOPROXY file tree
	ProjectDir string    `json:"project_dir"` // the project's source, "" for synthetic trees
	Project    string    `json:"project"`     // module@version of the project
	GoLine     string    `json:"go_line"`     // the project's go.mod go line
	Added      []string  `json:"added"`       // module@version added on top of the project
	Stats      treeStats `json:"stats"`
	// Key identifies the content: a tree built on another tree records the
	// key it was built on, so it is rebuilt when that one changes.
	Key  string `json:"key"`
	Base string `json:"base"`
}

// treeStats counts a GOPROXY file tree.
type treeStats struct {
	Files      int   `json:"files"`
	Bytes      int64 `json:"bytes"`
	Zips       int   `json:"zips"`
	ZipBytes   int64 `json:"zip_bytes"`
	Mods       int   `json:"mods"`
	Infos      int   `json:"infos"`
	SumdbFiles int   `json:"sumdb_files"`
	SumdbBytes int64 `json:"sumdb_bytes"`
	Litter     int   `json:"litter"` // .lock, .ziphash, .partial
}

// candidate is a project the bench may use.
type candidate struct{ Path, Version string }

// projectCandidates are real, large Go projects at exact versions, tried in
// order; the first whose source downloads, whose go line the local toolchain
// accepts and whose `go mod download all` succeeds is used.
func projectCandidates(quick bool) []candidate {
	if quick {
		return []candidate{
			{"github.com/spf13/cobra", "v1.8.1"},
			{"github.com/urfave/cli/v2", "v2.27.5"},
		}
	}
	return []candidate{
		{"github.com/gohugoio/hugo", "v0.139.0"},
		{"github.com/traefik/traefik/v3", "v3.2.1"},
		{"github.com/caddyserver/caddy/v2", "v2.8.4"},
		{"code.gitea.io/gitea", "v1.22.3"},
	}
}

// multiModule is one large module of which the multi tree holds
// consecutive versions.
type multiModule struct {
	Path     string
	Versions []string
}

// multiModules are five large modules with five consecutive versions each:
// following the method the size target was set with
// (shared/docs/go-command-facts.md, "Compression facts"), the five heaviest
// modules of the project's own dependencies (hugo v0.139.0: by zip size) and
// the four versions before the one the project uses. The version the project
// needs is the newest listed.
func multiModules() []multiModule {
	return []multiModule{
		{"google.golang.org/api", []string{"v0.202.0", "v0.203.0", "v0.204.0", "v0.205.0", "v0.206.0"}},
		{"github.com/aws/aws-sdk-go", []string{"v1.55.1", "v1.55.2", "v1.55.3", "v1.55.4", "v1.55.5"}},
		{"github.com/bep/imagemeta", []string{"v0.7.1", "v0.8.0", "v0.8.1", "v0.8.2", "v0.8.3"}},
		{"golang.org/x/text", []string{"v0.16.0", "v0.17.0", "v0.18.0", "v0.19.0", "v0.20.0"}},
		{"github.com/magefile/mage", []string{"v1.12.0", "v1.12.1", "v1.13.0", "v1.14.0", "v1.15.0"}},
	}
}

func (b *bench) stagePrepare(ctx context.Context) error {
	if _, err := b.tree(ctx, "project"); err != nil {
		return err
	}
	for _, name := range b.treeNames() {
		if _, err := b.tree(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// treeNames are the real trees this run measures.
func (b *bench) treeNames() []string {
	if b.cfg.quick {
		return []string{"project"}
	}
	var out []string
	for _, n := range []string{"project", "multi"} {
		if contains(b.cfg.trees, n) {
			out = append(out, n)
		}
	}
	return out
}

// tree returns the named tree, preparing it (or re-using the cached one).
func (b *bench) tree(ctx context.Context, name string) (*tree, error) {
	if t, ok := b.trees[name]; ok {
		return t, nil
	}
	var t *tree
	var err error
	switch name {
	case "project":
		t, err = b.prepareProject(ctx)
	case "multi":
		t, err = b.prepareMulti(ctx)
	case "big":
		t, err = b.prepareBig(ctx)
	default:
		err = fmt.Errorf("unknown tree %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("preparing %s tree: %w", name, err)
	}
	b.trees[name] = t
	b.rep.addTree(t)
	return t, nil
}

func (b *bench) treeBase(name string) string {
	if b.cfg.quick {
		return filepath.Join(b.cfg.dir, "quick-"+name)
	}
	return filepath.Join(b.cfg.dir, name)
}

// loadReady reads a cached tree's ready.json; ok is false when there is
// none or it does not match key.
func loadReady(base, key string) (*tree, bool) {
	data, err := os.ReadFile(filepath.Join(base, "ready.json"))
	if err != nil {
		return nil, false
	}
	var t tree
	if err := json.Unmarshal(data, &t); err != nil || (key != "" && t.Key != key) {
		return nil, false
	}
	if _, err := os.Stat(t.Dir); err != nil {
		return nil, false
	}
	return &t, true
}

func saveReady(base string, t *tree) error {
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(base, "ready.json"), data)
}

func (b *bench) prepareProject(ctx context.Context) (*tree, error) {
	base := b.treeBase("project")
	cands := projectCandidates(b.cfg.quick)
	if b.cfg.project != "" {
		p, v, ok := strings.Cut(b.cfg.project, "@")
		if !ok || v == "" {
			return nil, fmt.Errorf("-project %q: want module@version", b.cfg.project)
		}
		cands = []candidate{{p, v}}
	}
	if t, ok := loadReady(base, ""); ok {
		for _, c := range cands {
			if t.Project == c.Path+"@"+c.Version {
				b.log.Info("re-using cached tree", "tree", "project", "project", t.Project, "dir", b.rel(t.Dir))
				return t, nil
			}
		}
	}
	if err := removeAll(base); err != nil {
		return nil, err
	}
	var errs []error
	for _, c := range cands {
		t, err := b.tryProject(ctx, base, c)
		if err == nil {
			return t, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		b.log.Warn("project candidate failed", "project", c.Path+"@"+c.Version, "err", err)
		errs = append(errs, fmt.Errorf("%s@%s: %w", c.Path, c.Version, err))
		if err := removeAll(base); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no project candidate worked: %w", errors.Join(errs...))
}

// tryProject fetches the source of c as a module, copies it out and fills
// a fresh module cache with its `go mod download all`.
func (b *bench) tryProject(ctx context.Context, base string, c candidate) (*tree, error) {
	mv := c.Path + "@" + c.Version
	b.log.Info("fetching project source", "project", mv)
	srcCache := filepath.Join(base, "srccache")
	empty := filepath.Join(base, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, err
	}
	out, err := b.output(ctx, proc{
		dir:  empty,
		env:  b.goEnv(srcCache, b.goenv.GOPROXY, b.goenv.GOSUMDB, ""),
		args: []string{"go", "mod", "download", "-json", mv},
	})
	if err != nil {
		return nil, err
	}
	var dl struct{ Dir, GoMod, Error string }
	if err := json.Unmarshal(out, &dl); err != nil {
		return nil, fmt.Errorf("go mod download -json %s: %w", mv, err)
	}
	if dl.Error != "" {
		return nil, errors.New(dl.Error)
	}
	gomod, err := os.ReadFile(filepath.Join(dl.Dir, "go.mod"))
	if err != nil {
		return nil, err
	}
	mf, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	goLine := ""
	if mf.Go != nil {
		goLine = mf.Go.Version
		if version.Compare("go"+goLine, b.goenv.GOVERSION) > 0 {
			return nil, fmt.Errorf("go.mod requires go %s, newer than the local %s", goLine, b.goenv.GOVERSION)
		}
	}
	for _, r := range mf.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			return nil, fmt.Errorf("go.mod replaces %s with the local directory %s", r.Old.Path, r.New.Path)
		}
	}
	src := filepath.Join(base, "src")
	if err := copyTree(dl.Dir, src); err != nil {
		return nil, err
	}
	if err := removeAll(srcCache); err != nil {
		return nil, err
	}
	modcache := filepath.Join(base, "modcache")
	b.log.Info("go mod download all", "project", mv, "modcache", b.rel(modcache))
	if _, err := b.execute(ctx, proc{
		dir:  src,
		env:  b.goEnv(modcache, b.goenv.GOPROXY, b.goenv.GOSUMDB, "-mod=mod"),
		args: []string{"go", "mod", "download", "all"},
	}); err != nil {
		return nil, err
	}
	if err := trimModcache(modcache); err != nil {
		return nil, err
	}
	t := &tree{
		Name:       "project",
		Dir:        filepath.Join(modcache, "cache", "download"),
		ProjectDir: src,
		Project:    mv,
		GoLine:     goLine,
	}
	if t.Stats, err = countTree(t.Dir); err != nil {
		return nil, err
	}
	if !b.cfg.quick && t.Stats.Zips < 100 {
		return nil, fmt.Errorf("only %d module zips, want 100 or more", t.Stats.Zips)
	}
	t.Key = fmt.Sprintf("%s/%d/%d", mv, t.Stats.Files, t.Stats.Bytes)
	if err := saveReady(base, t); err != nil {
		return nil, err
	}
	return t, nil
}

// prepareMulti copies the project tree and downloads consecutive versions
// of large modules into the copy.
func (b *bench) prepareMulti(ctx context.Context) (*tree, error) {
	proj, err := b.tree(ctx, "project")
	if err != nil {
		return nil, err
	}
	base := b.treeBase("multi")
	var want []string
	for _, m := range multiModules() {
		for _, v := range m.Versions {
			want = append(want, m.Path+"@"+v)
		}
	}
	if t, ok := loadReady(base, ""); ok && t.Base == proj.Key && strings.Join(t.Added, " ") == strings.Join(want, " ") {
		b.log.Info("re-using cached tree", "tree", "multi", "dir", b.rel(t.Dir))
		return t, nil
	}
	if err := removeAll(base); err != nil {
		return nil, err
	}
	modcache := filepath.Join(base, "modcache")
	dir := filepath.Join(modcache, "cache", "download")
	b.log.Info("copying project tree", "to", b.rel(dir))
	if err := copyTree(proj.Dir, dir); err != nil {
		return nil, err
	}
	empty := filepath.Join(base, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, err
	}
	for _, mv := range want {
		b.log.Info("go mod download", "module", mv)
		if _, err := b.execute(ctx, proc{
			dir:  empty,
			env:  b.goEnv(modcache, b.goenv.GOPROXY, b.goenv.GOSUMDB, ""),
			args: []string{"go", "mod", "download", mv},
		}); err != nil {
			return nil, err
		}
		// The extracted copy is not part of the tree: drop it as we go
		// to bound disk use.
		if err := trimModcache(modcache); err != nil {
			return nil, err
		}
	}
	t := &tree{
		Name:       "multi",
		Dir:        dir,
		ProjectDir: proj.ProjectDir,
		Project:    proj.Project,
		GoLine:     proj.GoLine,
		Added:      want,
		Base:       proj.Key,
	}
	if t.Stats, err = countTree(dir); err != nil {
		return nil, err
	}
	t.Key = fmt.Sprintf("multi/%s/%d/%d", proj.Key, t.Stats.Files, t.Stats.Bytes)
	if err := saveReady(base, t); err != nil {
		return nil, err
	}
	return t, nil
}

// trimModcache removes everything of a module cache except cache/download:
// the extracted module directories are not part of a GOPROXY tree.
func trimModcache(modcache string) error {
	entries, err := os.ReadDir(modcache)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "cache" {
			continue
		}
		if err := removeAll(filepath.Join(modcache, e.Name())); err != nil {
			return err
		}
	}
	sub, err := os.ReadDir(filepath.Join(modcache, "cache"))
	if err != nil {
		return err
	}
	for _, e := range sub {
		if e.Name() == "download" {
			continue
		}
		if err := removeAll(filepath.Join(modcache, "cache", e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// countTree counts the files of a GOPROXY tree.
func countTree(dir string) (treeStats, error) {
	var s treeStats
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		s.Files++
		s.Bytes += info.Size()
		switch {
		case strings.HasPrefix(rel, "sumdb/"):
			s.SumdbFiles++
			s.SumdbBytes += info.Size()
		case strings.HasSuffix(rel, ".zip"):
			s.Zips++
			s.ZipBytes += info.Size()
		case strings.HasSuffix(rel, ".mod"):
			s.Mods++
		case strings.HasSuffix(rel, ".info"):
			s.Infos++
		case strings.HasSuffix(rel, ".lock"), strings.HasSuffix(rel, ".ziphash"), strings.HasSuffix(rel, ".partial"):
			s.Litter++
		}
		return nil
	})
	return s, err
}

// copyTree copies the regular files of src into dst (which must not
// exist yet), making everything writable.
func copyTree(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("copying %s: %s exists", src, dst)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(p, target)
	})
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// modFile is one module version's file in a GOPROXY tree.
type modFile struct {
	Rel     string // slash path relative to the tree
	Path    string // module path
	Version string
	Ext     string // "info", "mod", "zip"
}

// listModFiles returns the .info, .mod and .zip files of a GOPROXY tree,
// sorted by path.
func listModFiles(dir string) ([]modFile, error) {
	var out []modFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && d.Name() == "sumdb" && filepath.Dir(p) == dir {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		mf, ok := parseModFile(filepath.ToSlash(rel))
		if ok {
			out = append(out, mf)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	return out, err
}

// parseModFile splits "github.com/!foo/bar/@v/v1.0.0.zip" into its module
// path, version and extension.
func parseModFile(rel string) (modFile, bool) {
	escPath, file, ok := strings.Cut(rel, "/@v/")
	if !ok || strings.Contains(file, "/") {
		return modFile{}, false
	}
	ext := filepath.Ext(file)
	switch ext {
	case ".info", ".mod", ".zip":
	default:
		return modFile{}, false
	}
	p, err := module.UnescapePath(escPath)
	if err != nil {
		return modFile{}, false
	}
	v, err := module.UnescapeVersion(strings.TrimSuffix(file, ext))
	if err != nil {
		return modFile{}, false
	}
	return modFile{Rel: rel, Path: p, Version: v, Ext: ext[1:]}, true
}

// writeFileAtomic writes a bench file through a temporary file and rename.
func writeFileAtomic(name string, data []byte) error { return fsutil.WriteFileAtomic(name, data) }
