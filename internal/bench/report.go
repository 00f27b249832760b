package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Units of a figure.
const (
	unitBytes   = "bytes"
	unitSeconds = "s"
	unitCount   = "count"
)

// figure is one measured quantity, with its stock counterpart if any.
type figure struct {
	Tree     string  `json:"tree"`
	Measure  string  `json:"measure"`
	Unit     string  `json:"unit"`
	Value    float64 `json:"gobundle"`
	Stock    float64 `json:"stock,omitempty"`
	HasStock bool    `json:"has_stock"`
	Ratio    float64 `json:"ratio,omitempty"`
	// Target is "ratio <= X" or "value <= X" (X in the figure's unit);
	// Status is PASS or FAIL when there is a target.
	Target       string  `json:"target,omitempty"`
	TargetMax    float64 `json:"target_max,omitempty"`
	TargetRatio  bool    `json:"target_is_ratio,omitempty"`
	Status       string  `json:"status,omitempty"`
	Runs         int     `json:"runs"`
	Note         string  `json:"note,omitempty"`
	Command      string  `json:"command,omitempty"`
	StockCommand string  `json:"stock_command,omitempty"`
}

// check is one pass/fail proof.
type check struct {
	Stage   string `json:"stage"`
	Name    string `json:"name"`
	Pass    bool   `json:"pass"`
	Detail  string `json:"detail,omitempty"`
	Command string `json:"command,omitempty"`
}

// report collects the run's results.
type report struct {
	Started  string   `json:"started"`
	Finished string   `json:"finished"`
	Host     string   `json:"host"`
	Go       string   `json:"go"`
	Zstd     string   `json:"zstd"`
	Gobundle string   `json:"gobundle"`
	Flags    string   `json:"flags"`
	Trees    []*tree  `json:"trees"`
	Figures  []figure `json:"figures"`
	Checks   []check  `json:"checks"`
	Notes    []string `json:"notes"`

	base string // save writes base.md and base.json; "" for none
}

func newReport(cfg config, goVersion, zstdVersion, gobundle string) *report {
	flags := "-stages " + strings.Join(cfg.stages, ",")
	if cfg.quick {
		flags += " -quick"
	}
	if cfg.repeat > 1 {
		flags += fmt.Sprintf(" -repeat %d", cfg.repeat)
	}
	return &report{
		Started:  now(),
		Host:     hostInfo(),
		Go:       goVersion,
		Zstd:     zstdVersion,
		Gobundle: gobundle,
		Flags:    flags,
		base:     cfg.report,
	}
}

func (r *report) addTree(t *tree) {
	r.Trees = append(r.Trees, t)
	r.save()
}

func (r *report) addNote(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
	r.save()
}

// save writes the report as it stands, so that a run stopped early (or a
// long stage still going) leaves what it measured so far.
func (r *report) save() {
	if r.base == "" {
		return
	}
	r.Finished = now() + " (so far)"
	_ = r.writeFiles(r.base)
}

// add records a figure, computing its ratio and status.
func (r *report) add(f figure) {
	if f.HasStock && f.Stock > 0 {
		f.Ratio = f.Value / f.Stock
	}
	if f.TargetMax > 0 {
		v := f.Value
		if f.TargetRatio {
			v = f.Ratio
		}
		if f.TargetRatio && !(f.HasStock && f.Stock > 0) {
			f.Status = ""
		} else if v <= f.TargetMax {
			f.Status = "PASS"
		} else {
			f.Status = "FAIL"
		}
		if f.Target == "" {
			if f.TargetRatio {
				f.Target = fmt.Sprintf("≤ %.2f×", f.TargetMax)
			} else {
				f.Target = "≤ " + formatValue(f.TargetMax, f.Unit)
			}
		}
	}
	r.Figures = append(r.Figures, f)
	r.save()
}

func (r *report) addCheck(stage, name string, pass bool, detail, command string) {
	r.Checks = append(r.Checks, check{Stage: stage, Name: name, Pass: pass, Detail: detail, Command: command})
	r.save()
}

func (r *report) finish() { r.Finished = now() }

// anyFail reports whether a check or a figure with a target failed.
func (r *report) anyFail() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return true
		}
	}
	for _, f := range r.Figures {
		if f.Status == "FAIL" {
			return true
		}
	}
	return false
}

// formatValue renders v in its unit for people.
func formatValue(v float64, unit string) string {
	switch unit {
	case unitBytes:
		return formatBytes(v)
	case unitSeconds:
		return formatSeconds(v)
	case unitCount:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// formatBytes uses decimal units (MB = 10^6 bytes), as file sizes are
// usually quoted.
func formatBytes(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2f GB", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.1f MB", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f kB", v/1e3)
	}
	return fmt.Sprintf("%.0f B", v)
}

func formatSeconds(v float64) string {
	switch {
	case v >= 10:
		return fmt.Sprintf("%.1f s", v)
	case v >= 1:
		return fmt.Sprintf("%.2f s", v)
	}
	return fmt.Sprintf("%.0f ms", v*1000)
}

func formatRatio(f figure) string {
	if f.Ratio == 0 {
		return ""
	}
	return fmt.Sprintf("%.3f×", f.Ratio)
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func medianDur(ds []time.Duration) float64 {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = d.Seconds()
	}
	return median(xs)
}

func runsNote(n int) string {
	if n == 1 {
		return "1 run"
	}
	return fmt.Sprintf("median of %d", n)
}

// writeText prints the report as aligned tables.
func (r *report) writeText(w io.Writer) {
	fmt.Fprintf(w, "\n== gobundle bench  %s  (go %s, zstd %s, %s)\n", r.Started, r.Go, r.Zstd, r.Host)
	for _, t := range r.Trees {
		fmt.Fprintf(w, "tree %-8s %s\n", t.Name, treeLine(t))
	}
	if len(r.Figures) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "TREE\tMEASURE\tGOBUNDLE\tSTOCK\tRATIO\tTARGET\tSTATUS\tRUNS")
		for _, f := range r.Figures {
			stock := ""
			if f.HasStock {
				stock = formatValue(f.Stock, f.Unit)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Tree, f.Measure, formatValue(f.Value, f.Unit), stock, formatRatio(f), f.Target, f.Status, runsNote(f.Runs))
		}
		tw.Flush()
	}
	if len(r.Checks) > 0 {
		fmt.Fprintln(w)
		for _, c := range r.Checks {
			st := "PASS"
			if !c.Pass {
				st = "FAIL"
			}
			line := fmt.Sprintf("%s  %-12s %s", st, c.Stage, c.Name)
			if c.Detail != "" {
				line += ": " + c.Detail
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
}

func treeLine(t *tree) string {
	s := t.Stats
	line := fmt.Sprintf("%s in %d files (%d zips %s, %d .mod, %d .info, sumdb %d files %s, %d cache litter files)",
		formatBytes(float64(s.Bytes)), s.Files, s.Zips, formatBytes(float64(s.ZipBytes)), s.Mods, s.Infos, s.SumdbFiles, formatBytes(float64(s.SumdbBytes)), s.Litter)
	if t.Project != "" {
		line += "; project " + t.Project
		if t.GoLine != "" {
			line += " (go " + t.GoLine + ")"
		}
	}
	if len(t.Added) > 0 {
		line += fmt.Sprintf("; plus %d versions: %s", len(t.Added), strings.Join(t.Added, " "))
	}
	return line
}

// writeFiles writes base.md and base.json.
func (r *report) writeFiles(base string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(base+".json", append(data, '\n')); err != nil {
		return err
	}
	return writeFileAtomic(base+".md", []byte(r.markdown()))
}

func (r *report) markdown() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# gobundle bench report\n\n")
	fmt.Fprintf(&sb, "- started %s, finished %s\n- host: %s\n- go: %s; zstd: %s; gobundle: %s\n- flags: `%s`\n\n", r.Started, r.Finished, r.Host, r.Go, r.Zstd, r.Gobundle, r.Flags)
	if len(r.Trees) > 0 {
		sb.WriteString("## Inputs\n\n")
		for _, t := range r.Trees {
			fmt.Fprintf(&sb, "- **%s**: %s\n", t.Name, mdEscape(treeLine(t)))
		}
		sb.WriteString("\n")
	}
	if len(r.Figures) > 0 {
		sb.WriteString("## Figures\n\n")
		sb.WriteString("| tree | measure | gobundle | stock | ratio | target | status | runs |\n|---|---|---|---|---|---|---|---|\n")
		for _, f := range r.Figures {
			stock := ""
			if f.HasStock {
				stock = formatValue(f.Stock, f.Unit)
			}
			fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", f.Tree, mdEscape(f.Measure), formatValue(f.Value, f.Unit), stock, formatRatio(f), f.Target, f.Status, runsNote(f.Runs))
		}
		sb.WriteString("\n")
	}
	if len(r.Checks) > 0 {
		sb.WriteString("## Checks\n\n| status | stage | check | detail |\n|---|---|---|---|\n")
		for _, c := range r.Checks {
			st := "PASS"
			if !c.Pass {
				st = "FAIL"
			}
			fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", st, c.Stage, mdEscape(c.Name), mdEscape(c.Detail))
		}
		sb.WriteString("\n")
	}
	if len(r.Notes) > 0 {
		sb.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&sb, "- %s\n", mdEscape(n))
		}
		sb.WriteString("\n")
	}
	sb.WriteString("## Commands\n\nEach figure and check, reproduced by hand (paths relative to the repository root):\n\n")
	seen := map[string]bool{}
	emit := func(label, cmd string) {
		if cmd == "" || seen[cmd] {
			return
		}
		seen[cmd] = true
		fmt.Fprintf(&sb, "- %s:\n  `%s`\n", mdEscape(label), cmd)
	}
	for _, f := range r.Figures {
		emit(f.Tree+" "+f.Measure+" (gobundle)", f.Command)
		emit(f.Tree+" "+f.Measure+" (stock)", f.StockCommand)
	}
	for _, c := range r.Checks {
		emit(c.Stage+" "+c.Name, c.Command)
	}
	return sb.String()
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// writeJSONFile is used by stages that keep raw data beside the report.
func writeJSONFile(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(name, append(data, '\n'))
}
