package resolver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
)

// FuzzInputFiles feeds arbitrary go.work, go.mod and go.sum files to the
// walker of local inputs (ParseInput, loadProject and the go.sum reader):
// it never panics, a refused input's error names the file it came from
// (or the module it is about), and an accepted one has a main module with
// a valid path and canonical versions only.
func FuzzInputFiles(f *testing.F) {
	f.Add("", "module example.com/x\n\ngo 1.22\n\nrequire example.com/a v1.1.0\n", "example.com/a v1.1.0 h1:wzx2VU0RK8sVVhLkO4DRogJqpz6lMi+16a3cxAGqLv8=\n")
	f.Add("go 1.22\n\nuse ./m\n\nreplace example.com/a => ./a\n", "module example.com/x\n\nrequire (\n\texample.com/a v1.1.0 // indirect\n)\n\nexclude example.com/b v1.0.0\n\nreplace example.com/c v1.0.0 => example.com/d v1.2.0\n\ntool example.com/t\n", "")
	f.Add("go 1.22\nuse (\n\t./m\n\t../../etc\n)\n", "module m\nretract [v1.0.0, v1.1.0]\ngodebug default=go1.21\ntoolchain go1.23.0\n", "bad line\n")
	f.Add("use /\n", "module example.com/x\nrequire example.com/a v1.1\n", "example.com/a v1.1.0/go.mod h1:x\n")
	f.Fuzz(func(t *testing.T, work, mod, sum string) {
		dir := t.TempDir()
		m := filepath.Join(dir, "m")
		if err := os.Mkdir(m, 0o777); err != nil {
			t.Fatal(err)
		}
		write := func(name, data string) {
			if err := os.WriteFile(name, []byte(data), 0o666); err != nil {
				t.Fatal(err)
			}
		}
		write(filepath.Join(m, "go.mod"), mod)
		write(filepath.Join(m, "go.sum"), sum)
		arg := m
		if work != "" {
			write(filepath.Join(dir, "go.work"), work)
			arg = dir
		}
		in, err := ParseInput(arg, dir)
		if err != nil {
			return
		}
		p, err := loadProject(context.Background(), in)
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, "go.mod") && !strings.Contains(msg, "go.work") && !strings.Contains(msg, dir) {
				t.Errorf("error names no file: %v", err)
			}
		} else {
			for _, mm := range p.mains {
				for _, r := range mm.Require {
					if r.Version == "" || !isCanonical(r.Version) {
						t.Errorf("accepted requirement %s@%q is not canonical", r.Path, r.Version)
					}
				}
			}
		}
		s := newGoSums()
		if err := s.readFile(context.Background(), filepath.Join(m, "go.sum")); err != nil && !strings.Contains(err.Error(), "go.sum") {
			t.Errorf("go.sum error names no file: %v", err)
		}
	})
}

func isCanonical(v string) bool { return module.CanonicalVersion(v) == v }
