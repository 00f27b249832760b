package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// signTarget bounds verify --key's wall time against verify's: checking
// signatures reads only the index, so it must cost nothing measurable.
const signTarget = 1.05

// stageSign measures signing (issue 17, point 3) on the synthetic bundle
// over 1 GB: the bytes each of two signatures adds, the time of gobundle
// sign (a copy of the file plus a rename), and verify --key beside verify
// without it, interleaved, medians of -repeat runs (at least 3).
func (b *bench) stageSign(ctx context.Context) error {
	_, big, err := b.bigTreeBundle(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(b.tmpDir(), "sign-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, k := range []string{"builder", "officer"} {
		if _, err := b.execute(ctx, proc{args: []string{b.cfg.bin, "keygen", k, "--dir", dir}}); err != nil {
			return err
		}
	}
	signed := filepath.Join(dir, "signed.gobundle")
	if _, err := b.execute(ctx, proc{args: []string{"cp", big, signed}}); err != nil {
		return err
	}
	unsigned := fileSize(big)
	sizes := []int64{unsigned}
	for _, k := range []string{"builder", "officer"} {
		m, err := b.execute(ctx, proc{args: []string{b.cfg.bin, "sign", signed, "--key", filepath.Join(dir, k+".key")}})
		if err != nil {
			return err
		}
		sizes = append(sizes, fileSize(signed))
		n := len(sizes) - 1
		b.rep.add(figure{Tree: "big", Measure: fmt.Sprintf("bytes added by signature %d", n), Unit: unitBytes,
			Value: float64(sizes[n] - sizes[n-1]), Runs: 1, TargetMax: 1024,
			Command: fmt.Sprintf("%s sign BUNDLE --key %s.key; stat -c %%s BUNDLE", b.binRel(), k),
			Note:    fmt.Sprintf("bundle %s", formatBytes(float64(unsigned)))})
		b.rep.add(figure{Tree: "big", Measure: fmt.Sprintf("gobundle sign, signature %d (wall)", n), Unit: unitSeconds,
			Value: m.Wall.Seconds(), Runs: 1, Note: "copies the file to a temporary one and renames it"})
	}
	runs := max(3, b.cfg.repeat)
	plain := []string{b.cfg.bin, "--quiet", "verify", signed}
	keyed := []string{b.cfg.bin, "--quiet", "verify", "--key", filepath.Join(dir, "builder.pub"), "--key", filepath.Join(dir, "officer.pub"), "--require-all", signed}
	var ws, ks []float64
	for i := 0; i < runs; i++ {
		for _, args := range [][]string{plain, keyed} {
			m, err := b.execute(ctx, proc{args: args})
			if err != nil {
				b.rep.addCheck("sign", "verify of the signed bundle", false, errDetail(err), shellQuote(b.relArgs(args)))
				return err
			}
			if len(args) == len(plain) {
				ws = append(ws, m.Wall.Seconds())
			} else {
				ks = append(ks, m.Wall.Seconds())
			}
		}
	}
	b.rep.add(figure{Tree: "big", Measure: "verify --key (2 keys, --require-all) vs verify (wall)", Unit: unitSeconds,
		Value: median(ks), Stock: median(ws), HasStock: true, TargetMax: signTarget, TargetRatio: true, Runs: runs,
		Command:      fmt.Sprintf("%s verify --key builder.pub --key officer.pub --require-all BUNDLE", b.binRel()),
		StockCommand: fmt.Sprintf("%s verify BUNDLE", b.binRel()),
		Note:         fmt.Sprintf("bundle %s, interleaved", formatBytes(float64(unsigned)))})
	return nil
}
