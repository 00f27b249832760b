package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/fsutil"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseModFile(t *testing.T) {
	mf, ok := parseModFile("github.com/!burnt!sushi/toml/@v/v1.4.0.zip")
	if !ok || mf.Path != "github.com/BurntSushi/toml" || mf.Version != "v1.4.0" || mf.Ext != "zip" {
		t.Errorf("parseModFile = %+v, %v", mf, ok)
	}
	for _, bad := range []string{
		"github.com/x/y/@v/list",
		"github.com/x/y/@v/v1.0.0.lock",
		"github.com/x/y/@v/v1.0.0.ziphash",
		"sumdb/sum.example/lookup/x@v1.0.0",
		"github.com/X/y/@v/v1.0.0.mod", // upper case must be escaped
	} {
		if mf, ok := parseModFile(bad); ok {
			t.Errorf("parseModFile(%q) = %+v, want not a module file", bad, mf)
		}
	}
}

func TestShellQuote(t *testing.T) {
	got := shellQuote([]string{"tar", "-C", "a b", "it's", ""})
	want := `tar -C 'a b' 'it'\''s' ''`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}

func TestPickStages(t *testing.T) {
	def, err := pickStages("")
	if err != nil || contains(def, "limit") || !contains(def, "size") {
		t.Errorf("default stages = %v, %v", def, err)
	}
	all, err := pickStages("all")
	if err != nil || len(all) != len(allStages()) {
		t.Errorf("all stages = %v, %v", all, err)
	}
	if _, err := pickStages("size,nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown stage error = %v", err)
	}
}

func TestParseZstdVersion(t *testing.T) {
	if got := parseZstdVersion("*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***\n"); got != "v1.5.4" {
		t.Errorf("parseZstdVersion = %q", got)
	}
}

func TestReportStatus(t *testing.T) {
	r := &report{}
	r.add(figure{Measure: "size", Unit: unitBytes, Value: 60, Stock: 100, HasStock: true, TargetMax: 0.7, TargetRatio: true})
	r.add(figure{Measure: "time", Unit: unitSeconds, Value: 0.6, TargetMax: 0.5})
	if r.Figures[0].Status != "PASS" || r.Figures[0].Ratio != 0.6 {
		t.Errorf("ratio figure = %+v", r.Figures[0])
	}
	if r.Figures[1].Status != "FAIL" {
		t.Errorf("value figure = %+v", r.Figures[1])
	}
	if !r.anyFail() {
		t.Error("anyFail = false with a failed figure")
	}
	md := r.markdown()
	if !strings.Contains(md, "| size |") || !strings.Contains(md, "0.600×") {
		t.Errorf("markdown lacks the figure:\n%s", md)
	}
}

// TestCompareTrees generates a small synthetic tree, copies it, and checks
// that compareTrees accepts the copy and names a changed .mod and a zip
// with other content.
func TestCompareTrees(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	spec := synthSpec{Large: 1, LargeFiles: 2, FileSize: 1024, Small: 2, SmallVers: 2}
	if err := writeSynthTree(ctx, src, spec); err != nil {
		t.Fatal(err)
	}
	st, err := countTree(src)
	if err != nil {
		t.Fatal(err)
	}
	if st.Zips != 5 || st.Mods != 5 || st.Infos != 5 {
		t.Fatalf("synthetic tree counts = %+v, want 5 zips, .mod and .info", st)
	}
	dst := filepath.Join(dir, "dst")
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	c, err := compareTrees(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.problems) != 0 || c.zips != 5 || c.mods != 5 || c.infos != 5 || c.missingLists != 0 {
		t.Fatalf("identical copy: %+v", c)
	}

	// A changed .mod and a zip of another module version's content.
	mod := filepath.Join(dst, "gobundle.bench/synthetic/small0000/@v/v1.0.0.mod")
	if err := os.WriteFile(mod, []byte("module other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(src, "gobundle.bench/synthetic/small0000/@v/v1.1.0.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "gobundle.bench/synthetic/small0000/@v/v1.0.0.zip"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = compareTrees(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.problems) != 2 {
		t.Fatalf("problems = %q, want the .mod and the .zip", c.problems)
	}
	if !strings.Contains(c.problems[0], "v1.0.0.mod: differs") || !strings.Contains(c.problems[1], "v1.0.0.zip") {
		t.Errorf("problems = %q", c.problems)
	}
}

// TestSynthDeterministic checks that the synthetic tree does not depend on
// when or where it is generated.
func TestSynthDeterministic(t *testing.T) {
	ctx := context.Background()
	spec := synthSpec{Large: 1, LargeFiles: 1, FileSize: 4096, Small: 1, SmallVers: 2}
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, d := range []string{a, b} {
		if err := writeSynthTree(ctx, d, spec); err != nil {
			t.Fatal(err)
		}
	}
	files, err := listModFiles(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 9 {
		t.Fatalf("%d module files, want 9", len(files))
	}
	for _, f := range files {
		x, err := fsutil.FileSHA256(filepath.Join(a, f.Rel))
		if err != nil {
			t.Fatal(err)
		}
		y, err := fsutil.FileSHA256(filepath.Join(b, f.Rel))
		if err != nil {
			t.Fatal(err)
		}
		if x != y {
			t.Errorf("%s differs between two generations", f.Rel)
		}
	}
}
