package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/dirhash"
)

// bundleFor returns the bundle of the named tree, packing it when the size
// stage did not run in this process.
func (b *bench) bundleFor(ctx context.Context, name string) (string, error) {
	if p, ok := b.packed[name]; ok {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if err := b.needBin(); err != nil {
		return "", err
	}
	t, err := b.tree(ctx, name)
	if err != nil {
		return "", err
	}
	out := b.outPath(name + ".gobundle")
	b.log.Info("gobundle pack", "tree", name)
	if _, err := b.runPack(ctx, t.Dir, out); err != nil {
		return "", err
	}
	b.packed[name] = out
	return out, nil
}

// stageVerify proves that a bundle holds its tree exactly: verify exits 0,
// unpack gives every .info and .mod byte for byte and every zip with the
// source's h1: hash, and the go command downloads the project's whole
// build list from the unpacked tree with nothing but GOPROXY=file://.
func (b *bench) stageVerify(ctx context.Context) error {
	var firstErr error
	for _, name := range b.treeNames() {
		if err := b.verifyTree(ctx, name); err != nil {
			b.log.Error("verify", "tree", name, "err", err)
			if firstErr == nil {
				firstErr = err
			}
			if ctx.Err() != nil {
				return err
			}
		}
	}
	return firstErr
}

func (b *bench) verifyTree(ctx context.Context, name string) error {
	t, err := b.tree(ctx, name)
	if err != nil {
		return err
	}
	bf, err := b.bundleFor(ctx, name)
	if err != nil {
		return err
	}
	shown := name + ".gobundle"

	// gobundle verify
	verifyArgs := []string{b.cfg.bin, "--quiet", "verify", bf}
	m, err := b.execute(ctx, proc{args: verifyArgs})
	b.rep.addCheck("verify", name+": gobundle verify exits 0", err == nil, errDetail(err), shellQuote([]string{b.binRel(), "verify", shown}))
	if err == nil {
		b.rep.add(figure{Tree: name, Measure: "verify time (wall)", Unit: unitSeconds, Value: m.Wall.Seconds(), Runs: 1,
			Command: shellQuote([]string{b.binRel(), "verify", shown})})
		b.rep.add(figure{Tree: name, Measure: "verify peak RSS", Unit: unitBytes, Value: float64(m.MaxRSS), Runs: 1,
			Command: shellQuote([]string{b.binRel(), "verify", shown})})
	}

	// gobundle unpack
	dir := b.outPath("unpacked-" + name)
	if err := removeAll(dir); err != nil {
		return err
	}
	defer b.discard(dir)
	unpackCmd := shellQuote([]string{b.binRel(), "unpack", shown, "unpacked-" + name})
	m, err = b.execute(ctx, proc{args: []string{b.cfg.bin, "--quiet", "unpack", bf, dir}})
	b.rep.addCheck("verify", name+": gobundle unpack", err == nil, errDetail(err), unpackCmd)
	if err != nil {
		return err
	}
	b.rep.add(figure{Tree: name, Measure: "unpack time (wall)", Unit: unitSeconds, Value: m.Wall.Seconds(), Runs: 1, Command: unpackCmd})

	// byte and h1: comparison
	b.log.Info("comparing unpacked tree with the source", "tree", name)
	cmp, err := compareTrees(ctx, t.Dir, dir)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%d .info and %d .mod identical, %d zips with equal h1:", cmp.infos, cmp.mods, cmp.zips)
	if len(cmp.problems) > 0 {
		detail = fmt.Sprintf("%d problems, first: %s", len(cmp.problems), strings.Join(cmp.problems[:min(5, len(cmp.problems))], "; "))
	}
	b.rep.addCheck("verify", name+": unpacked .info/.mod byte-identical, zips same h1:", len(cmp.problems) == 0, detail, "")
	if cmp.lists > 0 || cmp.missingLists > 0 {
		b.rep.addCheck("verify", name+": unpacked tree has @v/list for every module", cmp.missingLists == 0,
			fmt.Sprintf("%d lists, %d missing", cmp.lists, cmp.missingLists), "")
	}

	// go mod download all, offline, from the unpacked tree
	if t.ProjectDir != "" {
		if err := b.offlineDownload(ctx, name, t, dir); err != nil {
			return err
		}
	}
	return nil
}

// offlineDownload runs `go mod download all` in a copy of the project with
// GOPROXY=file://dir, GOSUMDB=off and an empty module cache, without
// network when unshare is available.
func (b *bench) offlineDownload(ctx context.Context, name string, t *tree, dir string) error {
	work := b.outPath("offline-" + name)
	if err := removeAll(work); err != nil {
		return err
	}
	defer b.discard(work)
	src := filepath.Join(work, "src")
	if err := copyTree(t.ProjectDir, src); err != nil {
		return err
	}
	modcache := filepath.Join(work, "modcache")
	env := b.goEnv(modcache, "file://"+filepath.ToSlash(dir), "off", "-mod=mod")
	args := []string{"go", "mod", "download", "all"}
	how := "network on"
	if b.canUnshare(ctx) {
		args = append([]string{"unshare", "-n", "--"}, args...)
		how = "no network (unshare -n)"
	}
	b.log.Info("offline go mod download all", "tree", name, "how", how)
	m, err := b.execute(ctx, proc{dir: src, env: env, args: args})
	cmd := fmt.Sprintf("cd <copy of %s> && GOENV=off GOFLAGS=-mod=mod GOSUMDB=off GOTOOLCHAIN=local GOMODCACHE=$(mktemp -d) GOPROXY=file://$PWD/unpacked-%s %s",
		b.rel(t.ProjectDir), name, shellQuote(args))
	detail := fmt.Sprintf("%s, %s, %s", t.Project, how, formatSeconds(m.Wall.Seconds()))
	if err != nil {
		detail = errDetail(err)
	}
	b.rep.addCheck("verify", name+": go mod download all from GOPROXY=file://unpacked, GOSUMDB=off, empty GOMODCACHE", err == nil, detail, cmd)
	if err == nil {
		st, cerr := countTree(filepath.Join(modcache, "cache", "download"))
		if cerr == nil {
			b.rep.addNote("%s: offline go mod download all fetched %d zips and %d .mod files from the unpacked bundle", name, st.Zips, st.Mods)
		}
	}
	return err
}

// canUnshare reports whether `unshare -n` works here (root, util-linux).
func (b *bench) canUnshare(ctx context.Context) bool {
	if _, err := exec.LookPath("unshare"); err != nil {
		return false
	}
	_, err := b.execute(ctx, proc{args: []string{"unshare", "-n", "--", "true"}})
	return err == nil
}

// treeComparison is what compareTrees found.
type treeComparison struct {
	infos, mods, zips   int
	lists, missingLists int
	problems            []string
}

// compareTrees checks that every .info and .mod of src is byte-identical
// in dst and that every zip of src has the same h1: hash in dst.
func compareTrees(ctx context.Context, src, dst string) (treeComparison, error) {
	var c treeComparison
	files, err := listModFiles(src)
	if err != nil {
		return c, err
	}
	modules := map[string]bool{}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		modules[filepath.Dir(filepath.FromSlash(f.Rel))] = true
		a := filepath.Join(src, filepath.FromSlash(f.Rel))
		z := filepath.Join(dst, filepath.FromSlash(f.Rel))
		switch f.Ext {
		case "info", "mod":
			want, err := os.ReadFile(a)
			if err != nil {
				return c, err
			}
			got, err := os.ReadFile(z)
			if err != nil {
				c.problems = append(c.problems, fmt.Sprintf("%s: missing from the unpacked tree", f.Rel))
				continue
			}
			if !bytes.Equal(want, got) {
				c.problems = append(c.problems, fmt.Sprintf("%s: differs (%d bytes, source %d)", f.Rel, len(got), len(want)))
				continue
			}
			if f.Ext == "info" {
				c.infos++
			} else {
				c.mods++
			}
		case "zip":
			want, err := dirhash.HashZip(a, dirhash.Hash1)
			if err != nil {
				c.problems = append(c.problems, fmt.Sprintf("%s: source zip: %v", f.Rel, err))
				continue
			}
			got, err := dirhash.HashZip(z, dirhash.Hash1)
			if err != nil {
				c.problems = append(c.problems, fmt.Sprintf("%s: unpacked zip: %v", f.Rel, err))
				continue
			}
			if got != want {
				c.problems = append(c.problems, fmt.Sprintf("%s: h1 %s, source %s", f.Rel, got, want))
				continue
			}
			c.zips++
		}
	}
	for d := range modules {
		if _, err := os.Stat(filepath.Join(dst, d, "list")); err == nil {
			c.lists++
		} else {
			c.missingLists++
		}
	}
	return c, nil
}

func errDetail(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
