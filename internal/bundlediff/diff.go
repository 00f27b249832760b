// Package bundlediff compares what two bundles serve: the module versions
// added, removed and changed, toolchains, and checksum database tree sizes
// and vulnerability database entries (gobundle diff). A bundle is taken as the union it serves with its
// bases ([bundle.Reader.Chain]), so an incremental one compares as what
// crosses plus what is already inside.
package bundlediff

import (
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/internal/vulndb"
)

// ToolchainPath is the module path that carries Go toolchains.
const ToolchainPath = "golang.org/toolchain"

// Entry is one module version that differs.
type Entry struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	// Bytes is what its files (.info, .mod, .zip as served) add up to, in
	// the newer bundle for added and changed ones, in the older for
	// removed ones.
	Bytes int64 `json:"bytes"`
	// What names the files that differ, for a changed one.
	What []string `json:"what,omitempty"`
}

// Tree is the size of a checksum database's newest tree on both sides (0
// when a side has no data for it).
type Tree struct {
	Name string `json:"name"`
	Old  int64  `json:"old"`
	New  int64  `json:"new"`
}

// Result is what differs between two bundles.
type Result struct {
	Added   []Entry `json:"added"`
	Removed []Entry `json:"removed"`
	Changed []Entry `json:"changed"`
	// Toolchains added and removed (versions of ToolchainPath), which the
	// lists above leave out.
	ToolchainsAdded   []Entry `json:"toolchains_added"`
	ToolchainsRemoved []Entry `json:"toolchains_removed"`
	SumDB             []Tree  `json:"sumdb"`
	// VulnDB lists the vulnerability database entries (ids) new adds,
	// removes and changes (create --vulndb).
	VulnDB VulnDiff `json:"vulndb"`
	// Bytes of the added, removed and changed module versions, toolchains
	// included.
	AddedBytes   int64 `json:"added_bytes"`
	RemovedBytes int64 `json:"removed_bytes"`
	ChangedBytes int64 `json:"changed_bytes"`
}

// view is the module versions a chain serves, each file from the first
// bundle that holds it.
type view map[module.Version]bundle.Module

func newView(chain []*bundle.Reader) view {
	v := view{}
	for _, r := range chain {
		for _, m := range r.Modules() {
			mv := module.Version{Path: m.Path, Version: m.Version}
			o, ok := v[mv]
			if !ok {
				v[mv] = m
				continue
			}
			if o.Info == nil {
				o.Info = m.Info
			}
			if o.Mod == nil {
				o.Mod, o.ModHash = m.Mod, m.ModHash
			}
			if o.Zip == nil {
				o.Zip, o.ZipHash = m.Zip, m.ZipHash
			}
			v[mv] = o
		}
	}
	return v
}

func size(m bundle.Module) int64 {
	var n int64
	for _, f := range []*bundle.FileInfo{m.Info, m.Mod, m.Zip} {
		if f != nil {
			n += f.Size
		}
	}
	return n
}

// differs names the files of a and b (one module version) that differ.
func differs(a, b bundle.Module) []string {
	var out []string
	same := func(x, y *bundle.FileInfo) bool { return x == nil || y == nil || x.SHA256 == y.SHA256 }
	if !same(a.Info, b.Info) {
		out = append(out, "info")
	}
	if !same(a.Mod, b.Mod) {
		out = append(out, "mod")
	}
	if (a.ZipHash != "" && b.ZipHash != "" && a.ZipHash != b.ZipHash) || (a.ZipHash == b.ZipHash && !same(a.Zip, b.Zip)) {
		out = append(out, "zip")
	}
	return out
}

// Compare returns what the chain new serves that old does not, and back.
func Compare(old, new []*bundle.Reader) Result {
	ov, nv := newView(old), newView(new)
	var res Result
	for mv, m := range nv {
		e := Entry{Path: mv.Path, Version: mv.Version, Bytes: size(m)}
		o, ok := ov[mv]
		switch {
		case !ok && mv.Path == ToolchainPath:
			res.ToolchainsAdded = append(res.ToolchainsAdded, e)
			res.AddedBytes += e.Bytes
		case !ok:
			res.Added = append(res.Added, e)
			res.AddedBytes += e.Bytes
		default:
			if e.What = differs(o, m); len(e.What) > 0 {
				res.Changed = append(res.Changed, e)
				res.ChangedBytes += e.Bytes
			}
		}
	}
	for mv, m := range ov {
		if _, ok := nv[mv]; ok {
			continue
		}
		e := Entry{Path: mv.Path, Version: mv.Version, Bytes: size(m)}
		if mv.Path == ToolchainPath {
			res.ToolchainsRemoved = append(res.ToolchainsRemoved, e)
		} else {
			res.Removed = append(res.Removed, e)
		}
		res.RemovedBytes += e.Bytes
	}
	for _, l := range []*[]Entry{&res.Added, &res.Removed, &res.Changed, &res.ToolchainsAdded, &res.ToolchainsRemoved} {
		if *l == nil {
			*l = []Entry{}
		}
		slices.SortFunc(*l, func(a, b Entry) int {
			if c := strings.Compare(a.Path, b.Path); c != 0 {
				return c
			}
			return semver.Compare(a.Version, b.Version)
		})
	}
	res.SumDB = trees(old, new)
	res.VulnDB = vulnDiff(old, new)
	return res
}

// VulnDiff is what differs between two vulnerability databases.
type VulnDiff struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

// vulnDiff compares the vulnerability database entries of two chains by
// their ids and sha256s, reading no content.
func vulnDiff(old, new []*bundle.Reader) VulnDiff {
	entries := func(rs []*bundle.Reader) map[string]bundle.Sum {
		out := map[string]bundle.Sum{}
		for _, r := range rs {
			for _, x := range r.Extras() {
				id, ok := strings.CutPrefix(x.Name, "ID/")
				if x.Kind == vulndb.Kind && ok {
					out[strings.TrimSuffix(id, ".json")] = x.SHA256
				}
			}
		}
		return out
	}
	o, n := entries(old), entries(new)
	d := VulnDiff{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for id, sum := range n {
		if osum, ok := o[id]; !ok {
			d.Added = append(d.Added, id)
		} else if osum != sum {
			d.Changed = append(d.Changed, id)
		}
	}
	for id := range o {
		if _, ok := n[id]; !ok {
			d.Removed = append(d.Removed, id)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	slices.Sort(d.Changed)
	return d
}

// trees returns the newest tree size of each checksum database on both
// sides, from the bundles' sumdb.name and sumdb.tree properties.
func trees(old, new []*bundle.Reader) []Tree {
	byName := map[string]*Tree{}
	note := func(rs []*bundle.Reader, isNew bool) {
		for _, r := range rs {
			name := sumdbstore.Property(r.Meta(), sumdbstore.PropName)
			n, err := strconv.ParseInt(sumdbstore.Property(r.Meta(), sumdbstore.PropTree), 10, 64)
			if name == "" || err != nil {
				continue
			}
			t := byName[name]
			if t == nil {
				t = &Tree{Name: name}
				byName[name] = t
			}
			if isNew {
				t.New = max(t.New, n)
			} else {
				t.Old = max(t.Old, n)
			}
		}
	}
	note(old, false)
	note(new, true)
	out := []Tree{}
	for _, t := range byName {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Tree) int { return strings.Compare(a.Name, b.Name) })
	return out
}
