package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"io/fs"
	"path/filepath"
	"strings"
)

// stageSumDB reports what the checksum database data adds to the
// project's bundle made by `gobundle create` with the default GOSUMDB:
// lookups (records) and tiles, and their bytes beside the bundle's size;
// the stock counterpart is what `go mod download all` left in the module
// cache's sumdb directory when the project tree was prepared.
func (b *bench) stageSumDB(ctx context.Context) error {
	if b.goenv.GOSUMDB == "off" {
		return fmt.Errorf("go env GOSUMDB is off: nothing to measure")
	}
	bf, err := b.projectBundleWithSumDB(ctx)
	if err != nil {
		return err
	}
	t, err := b.tree(ctx, "project")
	if err != nil {
		return err
	}
	args := []string{b.cfg.bin, "inspect", "--json", bf}
	out, err := b.output(ctx, proc{args: args})
	if err != nil {
		return err
	}
	var in struct {
		Stats struct {
			FileSize int64 `json:"FileSize"`
			Modules  int   `json:"Modules"`
		} `json:"stats"`
		SumDB *sumdbstore.Summary `json:"sumdb"`
	}
	if err := json.Unmarshal(out, &in); err != nil {
		return fmt.Errorf("%s: %w", shellQuote(args), err)
	}
	if in.SumDB == nil {
		return fmt.Errorf("%s: the bundle holds no checksum database data", shellQuote(args))
	}
	if in.SumDB.Error != "" {
		return fmt.Errorf("%s: checksum database data: %s", shellQuote(args), in.SumDB.Error)
	}
	s := in.SumDB
	size := fileSize(bf)
	stock, err := countSumDB(t.Dir)
	if err != nil {
		return err
	}
	cmd := shellQuote([]string{b.binRel(), "inspect", "--json", "project.gobundle"}) + "  # .sumdb"
	stockCmd := fmt.Sprintf("find %s/sumdb  # after go mod download all (prepare)", b.rel(t.Dir))
	b.rep.add(figure{Tree: "project", Measure: "checksum database lookups stored (stock: lookups go mod download all cached)", Unit: unitCount,
		Value: float64(s.Records), Stock: float64(stock.lookups), HasStock: true, Runs: 1, Command: cmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "checksum database tiles stored (stock: tiles go cached)", Unit: unitCount,
		Value: float64(s.Tiles), Stock: float64(stock.tiles), HasStock: true, Runs: 1, Command: cmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "checksum database bytes, uncompressed (stock: go's sumdb cache)", Unit: unitBytes,
		Value: float64(s.Bytes), Stock: float64(stock.bytes), HasStock: true, Runs: 1, Command: cmd, StockCommand: stockCmd})
	b.rep.add(figure{Tree: "project", Measure: "checksum database bytes vs bundle size (stock column: bundle size)", Unit: unitBytes,
		Value: float64(s.Bytes), Stock: float64(size), HasStock: true, Runs: 1, Command: cmd})
	b.rep.add(figure{Tree: "project", Measure: "  of which tiles", Unit: unitBytes, Value: float64(s.TileBytes), Runs: 1, Command: cmd})
	b.rep.add(figure{Tree: "project", Measure: "  of which records", Unit: unitBytes, Value: float64(s.RecordBytes), Runs: 1, Command: cmd})
	b.rep.addNote("sumdb: bundle %s (%s, %d module versions): database %s, tree %d, %d records of which %d proven, %d tiles (%s), records %s, signed heads %s, %d older trees.",
		b.rel(bf), formatBytes(float64(size)), in.Stats.Modules, s.Name, s.Tree, s.Records, s.Proven, s.Tiles, formatBytes(float64(s.TileBytes)),
		formatBytes(float64(s.RecordBytes)), formatBytes(float64(s.HeadBytes)), len(s.OlderTrees))
	b.rep.addCheck("sumdb", "every stored record is proven by the stored tiles", s.Proven == s.Records && s.Records > 0,
		fmt.Sprintf("%d of %d proven against tree %d", s.Proven, s.Records, s.Tree), cmd)
	return nil
}

// sumdbCount counts a module cache's cached checksum database files.
type sumdbCount struct {
	lookups, tiles int
	bytes          int64
}

// countSumDB counts the lookups and tiles under dir/sumdb (a module
// cache's cache/download).
func countSumDB(dir string) (sumdbCount, error) {
	var c sumdbCount
	root := filepath.Join(dir, "sumdb")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		c.bytes += info.Size()
		switch {
		case strings.Contains(rel, "/lookup/"):
			c.lookups++
		case strings.Contains(rel, "/tile/"):
			c.tiles++
		}
		return nil
	})
	return c, err
}
