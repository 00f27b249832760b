package repro

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gobundle/gobundle/bundle"
	"golang.org/x/mod/module"
)

// Report is the comparison of a rebuilt bundle with an earlier one.
type Report struct {
	OldDigest, NewDigest   bundle.Sum // bundle digests
	OldContent, NewContent bundle.Sum // content digests

	// Added and Removed are module versions ("path@version") only the
	// new, or only the old, bundle holds.
	Added, Removed []string
	// Files are the served files whose bytes differ, or that only one
	// bundle holds (beyond those of added and removed module versions).
	Files []FileChange
	// Meta are differences of metadata, origins and storage: what can
	// make the bundle digests differ when the content digests are equal.
	Meta []Change
}

// FileChange is a served file that differs; Old or New is nil when only
// the other bundle has it.
type FileChange struct {
	Path     string
	Old, New *bundle.Sum
}

// Change is a difference of one metadata field.
type Change struct {
	Field    string // "created", "inputs", "property sumdb.tree", "origin example.com/a@v1.0.0 zip", ...
	Old, New string
}

// Match reports whether both digests are equal.
func (r *Report) Match() bool {
	return r.OldDigest == r.NewDigest && r.OldContent == r.NewContent
}

// ContentMatch reports whether the content digests are equal.
func (r *Report) ContentMatch() bool { return r.OldContent == r.NewContent }

// Compare compares the bundle rebuilt, newr, with the earlier one, old.
func Compare(ctx context.Context, old, newr *bundle.Reader) (*Report, error) {
	of, err := Files(ctx, old)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", old.Name(), err)
	}
	nf, err := Files(ctx, newr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", newr.Name(), err)
	}
	rep := &Report{OldDigest: old.Digest(), NewDigest: newr.Digest(), OldContent: Digest(of), NewContent: Digest(nf)}
	rep.Added, rep.Removed = diffVersions(old.Modules(), newr.Modules())
	rep.Files = diffFiles(of, nf, append(slices.Clone(rep.Added), rep.Removed...))
	rep.Meta = diffMeta(old, newr)
	return rep, nil
}

func versions(mods []bundle.Module) map[string]bool {
	out := make(map[string]bool, len(mods))
	for _, m := range mods {
		out[m.Path+"@"+m.Version] = true
	}
	return out
}

func diffVersions(old, newm []bundle.Module) (added, removed []string) {
	ov, nv := versions(old), versions(newm)
	for v := range nv {
		if !ov[v] {
			added = append(added, v)
		}
	}
	for v := range ov {
		if !nv[v] {
			removed = append(removed, v)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// diffFiles lists files that differ, leaving out the .info, .mod and .zip
// of module versions in skip (reported as added or removed already).
func diffFiles(old, newf []bundle.ServedFile, skip []string) []FileChange {
	skipped := map[string]bool{}
	for _, mv := range skip {
		skipped[mv] = true
	}
	byPath := map[string]*FileChange{}
	var paths []string
	at := func(p string) *FileChange {
		c := byPath[p]
		if c == nil {
			c = &FileChange{Path: p}
			byPath[p] = c
			paths = append(paths, p)
		}
		return c
	}
	for _, f := range old {
		at(f.Path).Old = &f.SHA256
	}
	for _, f := range newf {
		at(f.Path).New = &f.SHA256
	}
	slices.Sort(paths)
	var out []FileChange
	for _, p := range paths {
		c := byPath[p]
		if c.Old != nil && c.New != nil && *c.Old == *c.New {
			continue
		}
		if mv, ok := moduleOfFile(p); ok && skipped[mv] {
			continue
		}
		out = append(out, *c)
	}
	return out
}

// moduleOfFile returns "path@version" of a module file's path
// ("<esc path>/@v/<esc version>.<ext>").
func moduleOfFile(p string) (string, bool) {
	escPath, file, ok := strings.Cut(p, "/@v/")
	if !ok || file == "list" {
		return "", false
	}
	i := strings.LastIndexByte(file, '.')
	if i < 0 {
		return "", false
	}
	mp, err1 := module.UnescapePath(escPath)
	mv, err2 := module.UnescapeVersion(file[:i])
	if err1 != nil || err2 != nil {
		return "", false
	}
	return mp + "@" + mv, true
}

func diffMeta(old, newr *bundle.Reader) []Change {
	om, nm := old.Meta(), newr.Meta()
	var out []Change
	add := func(field, o, n string) {
		if o != n {
			out = append(out, Change{Field: field, Old: o, New: n})
		}
	}
	add("tool", om.Tool, nm.Tool)
	add("created", om.Created.Format(time.RFC3339), nm.Created.Format(time.RFC3339))
	add("inputs", strings.Join(om.Inputs, ", "), strings.Join(nm.Inputs, ", "))
	add("mirrors", strings.Join(om.Mirrors, ", "), strings.Join(nm.Mirrors, ", "))
	props := func(m bundle.Meta) map[string]string {
		out := map[string]string{}
		for _, p := range m.Properties {
			out[p.Key] = p.Value
		}
		return out
	}
	op, np := props(om), props(nm)
	var keys []string
	for k := range op {
		keys = append(keys, k)
	}
	for k := range np {
		if _, ok := op[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		add("property "+k, op[k], np[k])
	}
	out = append(out, diffOrigins(old, newr)...)
	add("storage", storage(old.Stats()), storage(newr.Stats()))
	return out
}

func storage(s bundle.Stats) string {
	return fmt.Sprintf("%d frames, %d blobs, %d bytes compressed", s.Frames, s.Blobs, s.CompressedBytes)
}

// diffOrigins summarizes the files of module versions in both bundles,
// and the extras in both, whose origin differs: one change per pair of
// origins, naming how many files and the first.
func diffOrigins(old, newr *bundle.Reader) []Change {
	type pair struct{ old, new string }
	count := map[pair]int{}
	first := map[pair]string{}
	var order []pair
	note := func(o, n, what string) {
		if o == n {
			return
		}
		p := pair{o, n}
		if count[p] == 0 {
			first[p] = what
			order = append(order, p)
		}
		count[p]++
	}
	for _, om := range old.Modules() {
		nm, ok := newr.Module(om.Path, om.Version)
		if !ok {
			continue
		}
		for _, f := range []struct {
			kind     string
			old, new *bundle.FileInfo
		}{{"info", om.Info, nm.Info}, {"mod", om.Mod, nm.Mod}, {"zip", om.Zip, nm.Zip}} {
			if f.old != nil && f.new != nil {
				note(f.old.Origin, f.new.Origin, om.Path+"@"+om.Version+" "+f.kind)
			}
		}
	}
	ox := map[string]string{}
	for _, x := range old.Extras() {
		ox[x.Kind+" "+x.Name] = x.Origin
	}
	for _, x := range newr.Extras() {
		if o, ok := ox[x.Kind+" "+x.Name]; ok {
			note(o, x.Origin, x.Kind+" "+x.Name)
		}
	}
	var out []Change
	for _, p := range order {
		out = append(out, Change{Field: fmt.Sprintf("origin of %d files (first %s)", count[p], first[p]), Old: p.old, New: p.new})
	}
	return out
}

// maxListed bounds the lines Write prints per kind of difference.
const maxListed = 20

// Write prints the report: whether each digest matches and, when one does
// not, what differs (module versions, files, metadata), at most maxListed
// lines of each.
func (r *Report) Write(w io.Writer, old string) {
	digest := func(what string, o, n bundle.Sum) {
		if o == n {
			fmt.Fprintf(w, "reproduce %s: %s sha256:%s matches\n", old, what, n)
		} else {
			fmt.Fprintf(w, "reproduce %s: %s differs: sha256:%s in %s, sha256:%s rebuilt\n", old, what, o, old, n)
		}
	}
	digest("content digest", r.OldContent, r.NewContent)
	digest("bundle digest", r.OldDigest, r.NewDigest)
	list := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(w, "  %s (%d):\n", title, len(lines))
		for i, l := range lines {
			if i == maxListed {
				fmt.Fprintf(w, "    … and %d more\n", len(lines)-maxListed)
				break
			}
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	list("module versions only in "+old, r.Removed)
	list("module versions only in the rebuild", r.Added)
	var files []string
	for _, f := range r.Files {
		switch {
		case f.Old == nil:
			files = append(files, f.Path+": only in the rebuild")
		case f.New == nil:
			files = append(files, f.Path+": only in "+old)
		default:
			files = append(files, fmt.Sprintf("%s: sha256:%s in %s, sha256:%s rebuilt", f.Path, *f.Old, old, *f.New))
		}
	}
	list("files that differ", files)
	var meta []string
	for _, c := range r.Meta {
		meta = append(meta, fmt.Sprintf("%s: %q in %s, %q rebuilt", c.Field, c.Old, old, c.New))
	}
	if !r.Match() {
		list("metadata that differs", meta)
	}
}
