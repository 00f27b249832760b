package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"github.com/gobundle/gobundle/internal/testkit/tally"
)

// A badInput is one case of the bad-input catalogue of issue 20: the files
// of a project (or arguments alone), and the one-line error create must
// give for them.
type badInput struct {
	name  string
	files map[string]string // project files; none: args only
	args  []string          // inputs (default: the project directory)
	code  int               // exit code; 0 means 1
	want  string            // the error line after "gobundle: ", with $WORK and $UPSTREAM for the test's directory and upstream
}

const helloMod = "module example.com/x\n\ngo 1.22\n\nrequire example.com/a v1.1.0\n"

const helloSum = `example.com/a v1.1.0 h1:wzx2VU0RK8sVVhLkO4DRogJqpz6lMi+16a3cxAGqLv8=
example.com/a v1.1.0/go.mod h1:pSxuLnTCvmsKlzX9wbRg4nHxiECcc7CggQX78YL7MM0=
`

func badInputs() []badInput {
	mod := func(m string) map[string]string { return map[string]string{"go.mod": m} }
	req := func(line string) map[string]string {
		return mod("module example.com/x\n\ngo 1.22\n\nrequire " + line + "\n")
	}
	return []badInput{
		{name: "gomod-syntax", files: mod("module example.com/x\n\nrequire (\n\texample.com/a v1.1.0\n"),
			want: "$WORK/p/go.mod:5: syntax error (unterminated block started at $WORK/p/go.mod:3:1)"},
		{name: "gomod-no-module", files: mod("go 1.22\n"), want: "$WORK/p/go.mod: no module directive"},
		{name: "gomod-binary", files: mod("\x00\x01\x02\xff"), want: `$WORK/p/go.mod:1: unexpected input character '\x00'`},
		{name: "gomod-noncanonical-version", files: req("example.com/a v1.1"),
			want: `$WORK/p/go.mod:5: require example.com/a: version "v1.1" invalid: not canonical (should be "v1.1.0"), and the go command would look it up as a query and rewrite this file: run go mod tidy first`},
		{name: "gomod-invalid-version", files: req("example.com/a vx.y.z"),
			want: `$WORK/p/go.mod:5: require example.com/a: version "vx.y.z" invalid: must be of the form v1.2.3`},
		{name: "gomod-wrong-major", files: req("example.com/a v9.9.9"),
			want: `$WORK/p/go.mod:5: require example.com/a: version "v9.9.9" invalid: should be v0 or v1, not v9`},
		{name: "gomod-bad-require-path", files: req("example.com/../a v1.1.0"),
			want: `example.com/../a@v1.1.0: malformed module path "example.com/../a": invalid path element ".." (required by example.com/x)`},
		{name: "gomod-unknown-module", files: req("example.com/ghost v1.0.0"),
			want: "example.com/ghost@v1.0.0: reading $UPSTREAM/example.com/ghost/@v/v1.0.0.mod: 404 Not Found (server response: not found: example.com/ghost@v1.0.0: unknown revision v1.0.0 (not in the fake upstream)) (required by example.com/x)"},
		{name: "gomod-unknown-version", files: req("example.com/a v1.0.9"),
			want: "example.com/a@v1.0.9: reading $UPSTREAM/example.com/a/@v/v1.0.9.mod: 404 Not Found (server response: not found: example.com/a@v1.0.9: unknown revision v1.0.9 (not in the fake upstream)) (required by example.com/x)"},
		{name: "gosum-malformed", files: map[string]string{"go.mod": helloMod, "go.sum": "example.com/a v1.1.0\n"},
			want: "$WORK/p/go.sum:1: malformed go.sum line"},
		{name: "gosum-bad-hash", files: map[string]string{"go.mod": helloMod, "go.sum": strings.Replace(helloSum, "h1:wzx2", "h1:AAAA", 1)},
			want: "example.com/a@v1.1.0: zip checksum mismatch: downloaded h1:wzx2VU0RK8sVVhLkO4DRogJqpz6lMi+16a3cxAGqLv8= from $UPSTREAM, $WORK/p/go.sum:1 has h1:AAAAVU0RK8sVVhLkO4DRogJqpz6lMi+16a3cxAGqLv8="},
		{name: "gowork-syntax", files: map[string]string{"go.work": "go 1.22\n\nuse (\n\t./m\n", "m/go.mod": helloMod},
			want: "$WORK/p/go.work:5: syntax error (unterminated block started at $WORK/p/go.work:3:1)"},
		{name: "gowork-missing-use", files: map[string]string{"go.work": "go 1.22\n\nuse ./missing\n"},
			want: "$WORK/p/go.work: use ./missing: open $WORK/p/missing/go.mod: no such file or directory"},
		{name: "gowork-noncanonical-replace", files: map[string]string{"go.work": "go 1.22\n\nuse ./m\n\nreplace example.com/a => example.com/b v1\n", "m/go.mod": helloMod, "m/go.sum": helloSum},
			want: `$WORK/p/go.work:5: replace example.com/b: version "v1" invalid: not canonical (should be "v1.0.0"), and the go command would look it up as a query and rewrite this file: run go mod tidy first`},
		{name: "arg-noncanonical-version", args: []string{"example.com/a@v1.1"}, code: 2,
			want: `input "example.com/a@v1.1": version "v1.1" is not a full semantic version or latest (other queries are not supported)`},
		{name: "arg-query-version", args: []string{"example.com/a@master"}, code: 2,
			want: `input "example.com/a@master": version "master" is not a full semantic version or latest (other queries are not supported)`},
		{name: "arg-invalid-version", args: []string{"example.com/a@1.1.0"}, code: 2,
			want: `input "example.com/a@1.1.0": version "1.1.0" is not a full semantic version or latest (other queries are not supported)`},
		{name: "arg-wrong-major", args: []string{"example.com/a@v9.9.9"}, code: 2,
			want: `input "example.com/a@v9.9.9": example.com/a@v9.9.9: invalid version: should be v0 or v1, not v9`},
		{name: "arg-not-module-path", args: []string{"example.com/../a@v1.1.0"}, code: 2,
			want: `input "example.com/../a@v1.1.0": malformed module path "example.com/../a": invalid path element ".."`},
		{name: "arg-escaped-path", args: []string{"example.com/!a@v1.1.0"}, code: 2,
			want: `input "example.com/!a@v1.1.0": malformed module path "example.com/!a": invalid char '!'`},
		{name: "arg-unknown-module", args: []string{"example.com/ghost@v1.0.0"},
			want: "example.com/ghost@v1.0.0: reading $UPSTREAM/example.com/ghost/@v/v1.0.0.mod: 404 Not Found (server response: not found: example.com/ghost@v1.0.0: unknown revision v1.0.0 (not in the fake upstream))"},
		{name: "arg-missing-dir", args: []string{"./nowhere"}, code: 2,
			want: `input "./nowhere": no such file or directory, and not module@version`},
	}
}

// TestCatalogueBadInputs: every malformed go.mod, go.work and go.sum,
// unknown module or version, invalid or non-canonical version and path
// that is no module path makes create fail with exit 1 and one exact
// error line naming the culprit, and write nothing: no bundle, no
// temporary file beside it.
func TestCatalogueBadInputs(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	for _, c := range badInputs() {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			proj := filepath.Join(work, "p")
			for name, data := range c.files {
				name = filepath.Join(proj, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(name), 0o777); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(name, []byte(data), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(work, "out")
			if err := os.Mkdir(out, 0o777); err != nil {
				t.Fatal(err)
			}
			args := []string{"create", "-q", "-o", filepath.Join(out, "x.gobundle"), "--cache", filepath.Join(work, "cache")}
			if c.args == nil {
				args = append(args, proj)
			} else {
				args = append(args, c.args...)
			}
			var stdout, stderr strings.Builder
			getenv := kitGetenv(work, up.URL)
			os.MkdirAll(proj, 0o777)
			code := runIn(t, proj, func() int { return run(context.Background(), args, &stdout, &stderr, getenv) })
			tally.Add(t, tally.Inputs, 1)
			got := strings.ReplaceAll(strings.TrimPrefix(stderr.String(), "gobundle: "), work, "$WORK")
			got = strings.ReplaceAll(got, up.URL, "$UPSTREAM")
			want := c.code
			if want == 0 {
				want = 1
			}
			if code != want || got != c.want+"\n" {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and:\n%s", code, got, want, c.want)
				tally.Add(t, tally.Unexpected, 0)
			} else {
				tally.Add(t, tally.Errors, 1)
			}
			if left := dirNames(t, out); len(left) > 0 {
				t.Errorf("left in the output directory: %v", left)
			}
		})
	}
}

// runIn runs f with dir as the working directory (create resolves
// relative inputs against it).
func runIn(t *testing.T, dir string, f func() int) int {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(old)
	return f()
}

// dirNames lists dir's entries.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}
