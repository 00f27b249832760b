package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/internal/testkit"
)

// TestSumDBScript runs testdata/sumdb/*.txtar: the kit's commands plus
// sumdbtamper, which writes a copy of a bundle with one checksum database
// record changed.
func TestSumDBScript(t *testing.T) {
	p := testkit.Params(t, "testdata/sumdb")
	p.Cmds["sumdbtamper"] = cmdSumDBTamper
	testscript.Run(t, p)
}

// cmdSumDBTamper: sumdbtamper [-module] IN OUT PATH@VERSION
//
// Without -module the stored checksum database record of PATH@VERSION gets
// a wrong zip hash; with -module the record stays and the module's go.mod
// is changed instead, as a bundle maker swapping module content would.
func cmdSumDBTamper(ts *testscript.TestScript, neg bool, args []string) {
	swapMod := len(args) > 0 && args[0] == "-module"
	if swapMod {
		args = args[1:]
	}
	if neg || len(args) != 3 {
		ts.Fatalf("usage: sumdbtamper [-module] IN OUT PATH@VERSION")
	}
	ts.Check(tamperBundle(context.Background(), ts.MkAbs(args[0]), ts.MkAbs(args[1]), args[2], ts.MkAbs("."), swapMod))
}

// tamperBundle copies bundle in to out, replacing the zip hash in the
// checksum database record of target (path@version) by a wrong one, or,
// with swapMod, the target's go.mod content. Everything else stays.
func tamperBundle(ctx context.Context, in, out, target, tmp string, swapMod bool) error {
	r, err := bundle.Open(ctx, in)
	if err != nil {
		return err
	}
	defer r.Close()
	m := r.Meta()
	w, err := bundle.NewWriter(bundle.WriterOptions{Tool: m.Tool, Created: m.Created, Inputs: m.Inputs, Mirrors: m.Mirrors, Properties: m.Properties, TempDir: tmp})
	if err != nil {
		return err
	}
	defer w.Close()
	found := false
	for _, mod := range r.Modules() {
		src := bundle.ModuleSource{Path: mod.Path, Version: mod.Version}
		if mod.Info != nil {
			if src.Info, err = r.ReadFile(ctx, mod.Path, mod.Version, bundle.KindInfo); err != nil {
				return err
			}
		}
		if mod.Mod != nil {
			if src.Mod, err = r.ReadFile(ctx, mod.Path, mod.Version, bundle.KindMod); err != nil {
				return err
			}
			if swapMod && mod.Path+"@"+mod.Version == target {
				src.Mod = append(src.Mod, "// swapped\n"...)
				found = true
			}
		}
		if mod.Zip != nil {
			data, err := r.ReadFile(ctx, mod.Path, mod.Version, bundle.KindZip)
			if err != nil {
				return err
			}
			src.ZipFile = filepath.Join(tmp, strings.ReplaceAll(mod.Path, "/", "_")+"@"+mod.Version+".zip")
			if err := os.WriteFile(src.ZipFile, data, 0o666); err != nil {
				return err
			}
		}
		if err := w.AddModule(ctx, src); err != nil {
			return err
		}
	}
	path, version, _ := strings.Cut(target, "@")
	db := sumdbstore.Property(m, sumdbstore.PropName)
	recName, err := sumdbstore.RecordName(db, path, version)
	if err != nil {
		return err
	}
	for _, x := range r.Extras() {
		data, err := r.ReadExtra(ctx, x.Kind, x.Name)
		if err != nil {
			return err
		}
		if x.Kind == sumdbstore.Kind && x.Name == recName && !swapMod {
			id, text, _, err := tlog.ParseRecord(data)
			if err != nil {
				return err
			}
			sum := sha256.Sum256([]byte("tampered"))
			wrong := "h1:" + base64.StdEncoding.EncodeToString(sum[:])
			lines := strings.Split(string(text), "\n")
			for i, l := range lines {
				if f := strings.Fields(l); len(f) == 3 && f[1] == version {
					lines[i] = f[0] + " " + f[1] + " " + wrong
				}
			}
			if data, err = tlog.FormatRecord(id, []byte(strings.Join(lines, "\n"))); err != nil {
				return err
			}
			found = true
		}
		if err := w.AddExtra(ctx, bundle.ExtraSource{Kind: x.Kind, Name: x.Name, Data: data, Origin: x.Origin}); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("%s: no entry %s", in, recName)
	}
	_, err = w.WriteFile(ctx, out)
	return err
}
