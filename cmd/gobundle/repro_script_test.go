package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gobundle/gobundle/bundle"
	"github.com/klauspost/compress/zstd"
	"github.com/rogpeppe/go-internal/testscript"
)

// reproCommands are the script commands of the reproducibility tests.
// bundleraw and treedigest read bundles and trees the way a second person
// would, without the bundle package, so that the tests check the format's
// promises, not the code that makes them.
func reproCommands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"bundleraw":  cmdBundleRaw,
		"treedigest": cmdTreeDigest,
		"samematch":  cmdSameMatch,
		"bundleinfo": cmdBundleInfo,
	}
}

// cmdBundleRaw: bundleraw BUNDLE OUT writes every decompressed byte of
// BUNDLE to OUT: the data frames, then the index, found from the trailer as
// docs/FORMAT.md lays it out.
func cmdBundleRaw(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: bundleraw BUNDLE OUT")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	if len(data) < 16+88 || string(data[len(data)-8:]) != "GBTRAILR" {
		ts.Fatalf("%s: no bundle trailer", args[0])
	}
	tr := data[len(data)-88:]
	off := binary.LittleEndian.Uint64(tr[0:])
	n := binary.LittleEndian.Uint64(tr[8:])
	if off < 16 || off+n > uint64(len(data)) {
		ts.Fatalf("%s: index out of range", args[0])
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<30))
	ts.Check(err)
	defer dec.Close()
	frames, err := dec.DecodeAll(data[16:off], nil)
	ts.Check(err)
	index, err := dec.DecodeAll(data[off:off+n], nil)
	ts.Check(err)
	if !bytes.HasPrefix(index, []byte("GBIX")) {
		ts.Fatalf("%s: decompressed index does not start with GBIX", args[0])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), append(frames, index...), 0o666))
}

// cmdTreeDigest: treedigest DIR prints "sha256:<hex>", the content digest
// of the GOPROXY tree DIR as docs/FORMAT.md defines it: the sha256 of the
// lines "<hex sha256 of the file>  <slash path relative to DIR>\n" of
// every regular file, sorted by path (sha256sum's output format).
func cmdTreeDigest(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: treedigest DIR")
	}
	root := ts.MkAbs(args[0])
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		lines = append(lines, hex.EncodeToString(sum[:])+"  "+filepath.ToSlash(rel)+"\n")
		return nil
	})
	ts.Check(err)
	sort.Slice(lines, func(i, j int) bool { return pathOf(lines[i]) < pathOf(lines[j]) })
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	fmt.Fprintf(ts.Stdout(), "sha256:%s\n", hex.EncodeToString(sum[:]))
}

func pathOf(line string) string { return strings.TrimSuffix(line[66:], "\n") }

// cmdSameMatch: [!] samematch REGEXP FILE... checks that the first match
// of REGEXP (multi-line mode; its last group, if it has groups) is the same in every FILE (with !: not the
// same in all of them); every file must have one.
func cmdSameMatch(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: samematch REGEXP FILE FILE...")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	ts.Check(err)
	var first string
	same := true
	for i, f := range args[1:] {
		sm := re.FindStringSubmatch(ts.ReadFile(f))
		if sm == nil {
			ts.Fatalf("%s: no match for %s", f, args[0])
		}
		m := sm[len(sm)-1]
		ts.Logf("%s: %s", f, m)
		if i == 0 {
			first = m
		} else if m != first {
			same = false
		}
	}
	switch {
	case same && neg:
		ts.Fatalf("every file has %s", first)
	case !same && !neg:
		ts.Fatalf("the files differ in %s", args[0])
	}
}

// cmdBundleInfo: bundleinfo OLD NEW PATH@VERSION JSON writes NEW, a copy
// of bundle OLD (same metadata, storage settings, origins, extras) whose
// module version PATH@VERSION has the .info JSON instead: what a mirror
// that serves another .info (they carry no checksum) puts in a bundle.
func cmdBundleInfo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: bundleinfo OLD NEW PATH@VERSION JSON")
	}
	ctx := context.Background()
	r, err := bundle.Open(ctx, ts.MkAbs(args[0]))
	ts.Check(err)
	defer r.Close()
	m := r.Meta()
	opts := bundle.WriterOptions{Tool: m.Tool, Created: m.Created, Inputs: m.Inputs, Mirrors: m.Mirrors, Properties: m.Properties, TempDir: ts.MkAbs(".")}
	for _, p := range m.Properties {
		switch p.Key {
		case bundle.PropLevel:
			_, opts.Level = zstd.EncoderLevelFromString(p.Value)
		case bundle.PropFrameSize:
			opts.FrameSize, err = strconv.Atoi(p.Value)
			ts.Check(err)
		}
	}
	w, err := bundle.NewWriter(opts)
	ts.Check(err)
	defer w.Close()
	found := false
	for _, mod := range r.Modules() {
		src := bundle.ModuleSource{Path: mod.Path, Version: mod.Version}
		read := func(kind bundle.FileKind, fi *bundle.FileInfo) []byte {
			if fi == nil {
				return nil
			}
			data, err := r.ReadFile(ctx, mod.Path, mod.Version, kind)
			ts.Check(err)
			return data
		}
		src.Info, src.Mod = read(bundle.KindInfo, mod.Info), read(bundle.KindMod, mod.Mod)
		if mod.Info != nil {
			src.InfoOrigin = mod.Info.Origin
		}
		if mod.Mod != nil {
			src.ModOrigin = mod.Mod.Origin
		}
		if mod.Path+"@"+mod.Version == args[2] {
			src.Info, found = []byte(args[3]), true
		}
		if zip := read(bundle.KindZip, mod.Zip); zip != nil {
			f, err := os.CreateTemp(ts.MkAbs("."), "zip-*")
			ts.Check(err)
			_, err = f.Write(zip)
			ts.Check(err)
			ts.Check(f.Close())
			defer os.Remove(f.Name())
			src.ZipFile, src.ZipOrigin = f.Name(), mod.Zip.Origin
		}
		ts.Check(w.AddModule(ctx, src))
	}
	if !found {
		ts.Fatalf("%s: no module version %s", args[0], args[2])
	}
	for _, x := range r.Extras() {
		data, err := r.ReadExtra(ctx, x.Kind, x.Name)
		ts.Check(err)
		ts.Check(w.AddExtra(ctx, bundle.ExtraSource{Kind: x.Kind, Name: x.Name, Data: data, Origin: x.Origin}))
	}
	_, err = w.WriteFile(ctx, ts.MkAbs(args[1]))
	ts.Check(err)
}
