package resolver

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
)

func TestParseInput(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"mod/go.mod":    "module example.com/m\n",
		"work/go.work":  "go 1.21\n",
		"both/go.mod":   "module example.com/b\n",
		"both/go.work":  "go 1.21\n",
		"other/x.work":  "go 1.21\n",
		"empty/README":  "",
		"named/app.mod": "module example.com/n\n",
	})
	for _, tc := range []struct {
		arg  string
		kind InputKind
		file string
		mod  module.Version
	}{
		{"mod", InputGoMod, "mod/go.mod", module.Version{}},
		{"mod/go.mod", InputGoMod, "mod/go.mod", module.Version{}},
		{"work", InputWork, "work/go.work", module.Version{}},
		{"both", InputWork, "both/go.work", module.Version{}},
		{"both/go.work", InputWork, "both/go.work", module.Version{}},
		{"other/x.work", InputWork, "other/x.work", module.Version{}},
		{"named/app.mod", InputGoMod, "named/app.mod", module.Version{}},
		{"example.com/m@v1.2.3", InputModule, "", module.Version{Path: "example.com/m", Version: "v1.2.3"}},
		{"example.com/m/v2@v2.0.0-20200101000000-abcdefabcdef", InputModule, "", module.Version{Path: "example.com/m/v2", Version: "v2.0.0-20200101000000-abcdefabcdef"}},
		{"example.com/m@v2.0.0+incompatible", InputModule, "", module.Version{Path: "example.com/m", Version: "v2.0.0+incompatible"}},
		{"example.com/m@latest", InputModule, "", module.Version{Path: "example.com/m"}}, // Query "latest"
	} {
		in, err := ParseInput(tc.arg, dir)
		if err != nil {
			t.Errorf("ParseInput(%q): %v", tc.arg, err)
			continue
		}
		want := ""
		if tc.file != "" {
			want = filepath.Join(dir, filepath.FromSlash(tc.file))
		}
		if in.Kind != tc.kind || in.File != want || in.Module != tc.mod || in.Arg != tc.arg {
			t.Errorf("ParseInput(%q) = %+v", tc.arg, in)
		}
	}
	for _, arg := range []string{"", "empty", "nosuchdir", "example.com/m@master", "example.com/m@v1.2", "Example..com@v1.0.0", "example.com/m/v2@v1.0.0"} {
		_, err := ParseInput(arg, dir)
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("ParseInput(%q) = %v, want an InputError", arg, err)
		}
	}
}

func TestReadInputList(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"list.txt":   "# projects\n\n  app  \nexample.com/m@v1.0.0\n",
		"app/go.mod": "module example.com/app\n",
		"bad.txt":    "app\nnowhere\n",
	})
	ins, err := ReadInputList(context.Background(), filepath.Join(dir, "list.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || ins[0].File != filepath.Join(dir, "app", "go.mod") || ins[1].String() != "example.com/m@v1.0.0" {
		t.Errorf("inputs = %+v", ins)
	}
	_, err = ReadInputList(context.Background(), filepath.Join(dir, "bad.txt"))
	if err == nil || !strings.Contains(err.Error(), "bad.txt:2") {
		t.Errorf("err = %v, want one naming bad.txt:2", err)
	}
}

func TestLoadProjectErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"go.work":    "go 1.21\nuse ./missing\n",
		"bad/go.mod": "module example.com/bad\nrequire (\n",
	})
	for _, arg := range []string{"go.work", "bad"} {
		in, err := ParseInput(arg, dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := loadProject(context.Background(), in); err == nil {
			t.Errorf("loadProject(%s) succeeded", arg)
		}
	}
}
