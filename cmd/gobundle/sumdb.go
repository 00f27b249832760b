package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/resolver"
	"github.com/gobundle/gobundle/serve"
)

// trustedSumDBKeys returns the checksum database keys verify trusts: those
// built into the go toolchain (if a go command is found) and the one given
// in GOSUMDB form with --sumdb (name+key).
func trustedSumDBKeys(ctx context.Context, e *env, flag string) (map[string]string, error) {
	keys := map[string]string{}
	if goenv, err := e.goEnv(ctx, []string{"GOROOT"}); err == nil && goenv["GOROOT"] != "" {
		if src, err := os.ReadFile(filepath.Join(goenv["GOROOT"], "src", "cmd", "go", "internal", "modfetch", "key.go")); err == nil {
			keys = resolver.KnownSumDBKeys(src)
		}
	}
	if flag != "" {
		f := strings.Fields(flag)
		v, err := note.NewVerifier(f[0])
		if err != nil {
			return nil, usageError{fmt.Errorf("--sumdb %q: want name+key (GOSUMDB form): %w", flag, err)}
		}
		keys[v.Name()] = f[0]
	}
	return keys, nil
}

// serveSumDBKeys returns the keys serve trusts: the go toolchain's
// built-in ones and those of --sumdb flags, which it also returns as
// given (the only keys serve prints).
func serveSumDBKeys(ctx context.Context, e *env, flags []string) (keys, given map[string]string, err error) {
	keys, err = trustedSumDBKeys(ctx, e, "")
	if err != nil {
		return nil, nil, err
	}
	given = map[string]string{}
	for _, flag := range flags {
		f := strings.Fields(flag)
		if len(f) == 0 {
			return nil, nil, usageError{fmt.Errorf("--sumdb %q: want name+key (GOSUMDB form)", flag)}
		}
		v, err := note.NewVerifier(f[0])
		if err != nil {
			return nil, nil, usageError{fmt.Errorf("--sumdb %q: want name+key (GOSUMDB form): %w", flag, err)}
		}
		keys[v.Name()], given[v.Name()] = f[0], f[0]
	}
	return keys, given, nil
}

// verifySumDB checks the checksum database data of a bundle (rs[0]) and
// the bases it is served with (rs[1:]): its tree heads against the trusted
// key of the database, every record's proof from the tiles and every
// record's hashes against the bundles'. Over several bundles their data
// is merged first, as serve merges it. It returns the problems and a
// one-line summary ("" without data).
func verifySumDB(ctx context.Context, rs []*bundle.Reader, trusted map[string]string) ([]bundle.Problem, string) {
	var stores []*sumdbstore.Store
	var origins []string
	how := "the go toolchain's or --sumdb key"
	for _, r := range rs {
		s, own, problems := loadVerifySumDB(ctx, r, trusted)
		if problems != nil {
			return problems, ""
		}
		if own {
			how = "the bundle's own key only (pass --sumdb name+key to check it against a trusted one)"
		}
		if s != nil {
			stores, origins = append(stores, s), append(origins, r.Name())
		}
	}
	if len(stores) == 0 {
		return nil, ""
	}
	s := stores[0]
	if len(stores) > 1 {
		var err error
		if s, err = sumdbstore.Merge(stores, origins); err != nil {
			return []bundle.Problem{{Entry: "sumdb " + stores[0].Name, Err: err}}, ""
		}
	}
	module := func(path, version string) (bundle.Module, bool) {
		for _, r := range rs {
			if m, ok := r.Module(path, version); ok {
				return m, true
			}
		}
		return bundle.Module{}, false
	}
	problems := sumdbstore.Verify(ctx, s, module)
	return problems, fmt.Sprintf("checksum database %s: tree %d signed (checked with %s), %d records proven and matching the bundle's hashes, %d tiles, %d older trees proven consistent",
		s.Name, s.Latest.Tree.N, how, len(s.Records), s.Tiles.Len(), len(s.Older))
}

// loadVerifySumDB loads the checksum database data of r with the trusted
// key of its database (own: with the bundle's own key, there being none);
// nil without data.
func loadVerifySumDB(ctx context.Context, r *bundle.Reader, trusted map[string]string) (_ *sumdbstore.Store, own bool, _ []bundle.Problem) {
	name := sumdbstore.Property(r.Meta(), sumdbstore.PropName)
	hasData := false
	for _, x := range r.Extras() {
		if x.Kind == sumdbstore.Kind {
			hasData = true
			break
		}
	}
	if !hasData {
		return nil, false, nil
	}
	keys := map[string]string{}
	if name != "" && trusted[name] != "" {
		keys[name] = trusted[name]
		if k := sumdbstore.Property(r.Meta(), sumdbstore.PropKey); k != "" && k != trusted[name] {
			return nil, false, []bundle.Problem{{Entry: "sumdb " + name, Err: fmt.Errorf("%s: bundle records key %s, trusted key is %s", r.Name(), k, trusted[name])}}
		}
	} else {
		own = true
	}
	s, err := sumdbstore.Load(ctx, r, keys)
	if err != nil {
		return nil, false, []bundle.Problem{{Entry: "sumdb " + name, Err: err}}
	}
	return s, own, nil
}

// inspectSumDB describes the bundle's checksum database data; nil when it
// has none.
func inspectSumDB(ctx context.Context, r *bundle.Reader) *sumdbstore.Summary {
	if !r.Linked() {
		for _, x := range r.Extras() {
			if x.Kind == sumdbstore.Kind {
				return &sumdbstore.Summary{Name: sumdbstore.Property(r.Meta(), sumdbstore.PropName), Error: "read with its bases only: pass --base"}
			}
		}
		return nil
	}
	s, err := sumdbstore.Load(ctx, r, nil)
	if s == nil && err == nil {
		return nil
	}
	if err != nil {
		return &sumdbstore.Summary{Name: sumdbstore.Property(r.Meta(), sumdbstore.PropName), Error: err.Error()}
	}
	info := &sumdbstore.Summary{Name: s.Name, Key: s.Key, Tree: s.Latest.Tree.N, Records: len(s.Records), Tiles: s.Tiles.Len(),
		TileBytes: s.TileBytes, RecordBytes: s.RecordBytes, HeadBytes: s.HeadBytes,
		Bytes: s.TileBytes + s.RecordBytes + s.HeadBytes, OlderTrees: []int64{}}
	for _, err := range sumdbstore.ProveRecords(s.Latest, s.Records, s.Tiles) {
		if err == nil {
			info.Proven++
		}
	}
	for _, h := range s.Older {
		info.OlderTrees = append(info.OlderTrees, h.Tree.N)
	}
	return info
}

// unpackSumDB writes the checksum database data of the bundles rs (one,
// or a chain, merged as serve merges it) into the GOPROXY tree dir; it
// reports the database name ("" without data), and as unusable why the
// data could not be loaded (it is then skipped).
func unpackSumDB(ctx context.Context, rs []*bundle.Reader, dir string) (db string, unusable, err error) {
	var stores []*sumdbstore.Store
	var origins []string
	for _, r := range rs {
		s, err := sumdbstore.Load(ctx, r, nil)
		if err != nil {
			if ctx.Err() != nil {
				return "", nil, ctx.Err()
			}
			return "", err, nil
		}
		if s != nil {
			stores, origins = append(stores, s), append(origins, r.Name())
		}
	}
	if len(stores) == 0 {
		return "", nil, nil
	}
	s := stores[0]
	if len(stores) > 1 {
		if s, err = sumdbstore.Merge(stores, origins); err != nil {
			return "", err, nil
		}
	}
	return s.Name, nil, sumdbstore.Unpack(ctx, s, dir)
}

// printSumDBNote tells serve's users how clients reach the checksum
// database: through this proxy with GOSUMDB left on, or not at all.
// It prints a key only when the user gave it (given, by name).
func printSumDBNote(e *env, st serve.Stats, given map[string]string) {
	if len(st.SumDBs) == 0 {
		fmt.Fprintf(e.stdout, "# GOSUMDB: the bundles carry no checksum database data: builds whose go.sum is complete need none; "+
			"to add modules set GONOSUMDB=<their paths> (or GOSUMDB=off) on the clients\n")
		return
	}
	for _, d := range st.SumDBs {
		use := "the go command's built-in key checks it"
		if given[d.Name] == d.Key {
			use = "clients whose default database is not " + d.Name + " set GOSUMDB=" + d.Key
		}
		fmt.Fprintf(e.stdout, "# GOSUMDB: checksum database %s is served through this proxy (tree %d, %d records, %d tiles): keep GOSUMDB on, "+
			"no GONOSUMDB needed for bundled modules; %s\n", d.Name, d.Tree, d.Records, d.Tiles, use)
		if d.Unproven > 0 {
			fmt.Fprintf(e.stdout, "# GOSUMDB: %d %s records are not proven by the loaded tiles: clients will refuse those module versions (see the log)\n", d.Unproven, d.Name)
		}
		if len(d.Consistent) > 0 {
			fmt.Fprintf(e.stdout, "# GOSUMDB: clients that saw %s trees %v keep working (proven consistent with tree %d)\n", d.Name, d.Consistent, d.Tree)
		}
		if len(d.Inconsistent) > 0 {
			fmt.Fprintf(e.stdout, "# GOSUMDB: clients that saw %s trees %v will fail (\"checking tree#N\"): create the newer bundle with --sumdb-since (or --base) on the older one\n", d.Name, d.Inconsistent)
		}
	}
}

// readTreeSumDB reads the checksum database files of the GOPROXY file tree
// dir that pack carries (nil if none is signed), warning about those left
// out since no signed tree head comes with them (a module cache's).
func readTreeSumDB(ctx context.Context, e *env, dir string, keys map[string]string) (*sumdbstore.Data, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	sd, unsigned, err := sumdbstore.ReadTrees(ctx, root.FS(), keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	for _, name := range unsigned {
		fmt.Fprintf(e.stderr, "gobundle: warning: %s: checksum database files left out: no signed tree head (latest) comes with them\n", filepath.Join(dir, "sumdb", name))
	}
	return sd, nil
}

// addTreeSumDB adds the checksum database data pack read (if any) to w,
// with the properties create writes for it.
func addTreeSumDB(ctx context.Context, w *bundle.Writer, sd *sumdbstore.Data) error {
	if sd == nil {
		return nil
	}
	w.Describe([]string{"GOPROXY file tree"}, nil, append([]bundle.Property{{Key: "sumdb", Value: sd.Name}}, sd.Properties()...))
	return sd.AddTo(ctx, w, sd.Name)
}
