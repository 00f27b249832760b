package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
)

// MergeCmd writes one self-contained bundle of the union of bundles.
type MergeCmd struct {
	Bundles []string `arg:"" name:"bundle" type:"existingfile" help:"Bundles to merge: full ones, and incremental ones together with their bases."`
	Output  string   `short:"o" required:"" help:"Bundle file to write." placeholder:"FILE"`
	SumDB   string   `name:"sumdb" placeholder:"NAME+KEY" help:"Checksum database key to check the bundles' signed tree heads with, GOSUMDB form (default: the go toolchain's built-in keys)."`
	compressWorkersFlag
	signFlag
}

func (c *MergeCmd) Run(e *env) error {
	if err := c.compressWorkersFlag.check("merge"); err != nil {
		return err
	}
	keys, err := trustedSumDBKeys(e.ctx, e, c.SumDB)
	if err != nil {
		return err
	}
	signers, err := c.signers(e)
	if err != nil {
		return err
	}
	if err := checkOutputDir(c.Output); err != nil {
		return usageError{fmt.Errorf("merge: -o %s: %w", c.Output, err)}
	}
	rs, err := openBases(e, c.Bundles)
	if err != nil {
		return err
	}
	defer closeAll(rs)
	created, err := e.created()
	if err != nil {
		return err
	}
	w, err := bundle.NewWriter(bundle.WriterOptions{
		Tool: "gobundle " + toolVersion(), Created: created,
		TempDir: e.getenv("GOBUNDLE_TMPDIR"), Concurrency: c.CompressWorkers,
		Progress: bundleProgress(e.newProgress("compressing", true)),
		Signers:  signers,
	})
	if err != nil {
		return err
	}
	defer w.Close()
	start := time.Now()
	read := e.newProgress("reading", false)
	err = bundle.Merge(e.ctx, w, rs, func(kind string) bool { return kind == sumdbstore.Kind }, bundleProgress(read))
	read.Finish()
	if err != nil {
		return err
	}
	props, err := mergeSumDB(e, w, rs, keys)
	if err != nil {
		return err
	}
	inputs, mirrors, props := mergedMeta(rs, props)
	w.Describe(inputs, mirrors, props)
	st, err := w.WriteFile(e.ctx, c.Output)
	if err != nil {
		return err
	}
	out, err := openBundle(e.ctx, c.Output)
	if err != nil {
		return err
	}
	defer out.Close()
	fmt.Fprintf(e.stderr, "merged %s: %d module versions (%d zips) into %s: %s in %s, index digest sha256:%s\n",
		plural(len(rs), "bundle", "bundles"), st.Modules, st.Zips, c.Output, humanBytes(st.FileSize), time.Since(start).Round(time.Millisecond), out.Digest())
	return nil
}

// mergeSumDB merges the checksum database data of rs (checked with the
// trusted keys) into w and returns the properties that describe it.
func mergeSumDB(e *env, w *bundle.Writer, rs []*bundle.Reader, keys map[string]string) ([]bundle.Property, error) {
	var stores []*sumdbstore.Store
	var origins []string
	for _, r := range rs {
		s, _, problems := loadVerifySumDB(e.ctx, r, keys)
		if problems != nil {
			return nil, fmt.Errorf("%s: %v", r.Name(), problems[0])
		}
		if s != nil {
			stores, origins = append(stores, s), append(origins, r.Name())
		}
	}
	if len(stores) == 0 {
		return nil, nil
	}
	s, err := sumdbstore.Merge(stores, origins)
	if err != nil {
		return nil, err
	}
	d := s.Data()
	if err := d.AddTo(e.ctx, w, d.Name); err != nil {
		return nil, err
	}
	return append([]bundle.Property{{Key: "sumdb", Value: d.Name}}, d.Properties()...), nil
}

// mergedMeta returns the inputs and mirrors of all of rs, sorted and
// listed once, and their properties (the first bundle's value, in digest
// order, for a key several hold) with own (the checksum database's)
// replacing theirs and the storage settings left to the writer.
func mergedMeta(rs []*bundle.Reader, own []bundle.Property) (inputs, mirrors []string, props []bundle.Property) {
	byDigest := slices.Clone(rs)
	slices.SortFunc(byDigest, func(a, b *bundle.Reader) int { return strings.Compare(a.Digest().String(), b.Digest().String()) })
	have := map[string]bool{}
	for _, p := range own {
		have[p.Key] = true
	}
	props = append(props, own...)
	for _, r := range byDigest {
		m := r.Meta()
		inputs = append(inputs, m.Inputs...)
		mirrors = append(mirrors, m.Mirrors...)
		for _, p := range m.Properties {
			if have[p.Key] || p.Key == "sumdb" || strings.HasPrefix(p.Key, "sumdb.") || strings.HasPrefix(p.Key, "bundle.") {
				continue
			}
			have[p.Key] = true
			props = append(props, p)
		}
	}
	slices.Sort(inputs)
	slices.Sort(mirrors)
	return slices.Compact(inputs), slices.Compact(mirrors), props
}
