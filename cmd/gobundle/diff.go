package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gobundle/gobundle/internal/bundlediff"
)

// DiffCmd shows what differs between two bundles.
type DiffCmd struct {
	Old  string `arg:"" help:"The older bundle." type:"existingfile"`
	New  string `arg:"" help:"The newer bundle; an incremental one is taken with its bases (OLD, or --base)." type:"existingfile"`
	JSON bool   `help:"Print machine-readable JSON."`
	baseFlag
}

func (c *DiffCmd) Run(e *env) error {
	rs, err := openBases(e, append([]string{c.Old, c.New}, c.Base...))
	if err != nil {
		return err
	}
	defer closeAll(rs)
	res := bundlediff.Compare(rs[0].Chain(), rs[1].Chain())
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	line := func(what string, l []bundlediff.Entry) {
		for _, m := range l {
			extra := ""
			if len(m.What) > 0 {
				extra = " (" + strings.Join(m.What, ", ") + " differ)"
			}
			fmt.Fprintf(tw, "%s\t%s@%s\t%s%s\n", what, m.Path, m.Version, humanBytes(m.Bytes), extra)
		}
	}
	line("added", res.Added)
	line("removed", res.Removed)
	line("changed", res.Changed)
	line("toolchain added", res.ToolchainsAdded)
	line("toolchain removed", res.ToolchainsRemoved)
	for _, t := range res.SumDB {
		fmt.Fprintf(tw, "checksum database\t%s\ttree %d -> %d\n", t.Name, t.Old, t.New)
	}
	for _, l := range []struct {
		what string
		ids  []string
	}{{"vulndb added", res.VulnDB.Added}, {"vulndb removed", res.VulnDB.Removed}, {"vulndb changed", res.VulnDB.Changed}} {
		for _, id := range l.ids {
			fmt.Fprintf(tw, "%s\t%s\n", l.what, id)
		}
	}
	tw.Flush()
	if v := res.VulnDB; len(v.Added)+len(v.Removed)+len(v.Changed) > 0 {
		fmt.Fprintf(e.stdout, "vulnerability database: %d entries added, %d removed, %d changed\n", len(v.Added), len(v.Removed), len(v.Changed))
	}
	fmt.Fprintf(e.stdout, "%d added (%s), %d removed (%s), %d changed (%s); toolchains: %d added, %d removed\n",
		len(res.Added), humanBytes(res.AddedBytes), len(res.Removed), humanBytes(res.RemovedBytes),
		len(res.Changed), humanBytes(res.ChangedBytes), len(res.ToolchainsAdded), len(res.ToolchainsRemoved))
	return nil
}
