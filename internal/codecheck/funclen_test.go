package codecheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// maxFuncLines is the most lines a function may take, from its func
// keyword to its closing brace (the guide asks for about 80).
const maxFuncLines = 100

// checkedDirs are the directories, from the module root, whose functions
// (tests and subdirectories included) are held to maxFuncLines.
var checkedDirs = []string{
	"bundle", "cmd", "resolver", "serve",
	"internal/applog", "internal/bundlediff", "internal/codecheck",
	"internal/fsutil", "internal/gotoolchain", "internal/pipeline",
	"internal/reliability", "internal/repro", "internal/sbom", "internal/vulndb",
}

// uncheckedDirs are the directories with Go files not held to
// maxFuncLines yet, each with what is over it. Split those into named
// steps and move the directory to checkedDirs.
var uncheckedDirs = map[string]string{
	"internal/bench":      "(*bench).stageCreate is 133 lines",
	"internal/sumdbstore": "Collect, Load and NewUnion are 105 to 132 lines",
	"internal/testkit":    "the test kit: hostile.Cases, cmdUpstream and (*fixtures.Set).LoadGraph are 125 to 167 lines",
}

// TestFunctionLength fails naming every function of the checked
// directories over maxFuncLines lines.
func TestFunctionLength(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	n := 0
	for _, d := range checkedDirs {
		long, files, err := longFuncs(filepath.Join(root, filepath.FromSlash(d)), maxFuncLines)
		if err != nil {
			t.Fatal(err)
		}
		n += files
		for _, l := range long {
			t.Errorf("%s: over %d lines: split it into named steps", l, maxFuncLines)
		}
	}
	if n == 0 {
		t.Fatal("no .go file checked")
	}
}

// TestEveryDirListed fails naming every directory with Go files (testdata
// left out) that is in neither checkedDirs nor uncheckedDirs, nor below
// one of them: a new package is held to maxFuncLines from its start.
func TestEveryDirListed(t *testing.T) {
	root := filepath.Join("..", "..")
	listed := func(dir string) bool {
		for d := dir; d != "."; d = path.Dir(d) {
			if _, ok := uncheckedDirs[d]; ok || slices.Contains(checkedDirs, d) {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || p != root && strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		if dir := filepath.ToSlash(rel); !seen[dir] {
			seen[dir] = true
			if !listed(dir) {
				t.Errorf("%s: Go files in neither checkedDirs nor uncheckedDirs", dir)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range checkedDirs {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(d))); err != nil {
			t.Errorf("checkedDirs: %v", err)
		}
	}
}

// TestLongFuncsFindsThem checks the checker on a file with a function just
// over the limit, a literal over it inside a short declaration's var, and
// one at the limit.
func TestLongFuncsFindsThem(t *testing.T) {
	dir := t.TempDir()
	body := func(name string, lines int) string {
		return "func " + name + "() {\n" + strings.Repeat("\tprintln()\n", lines-2) + "}\n"
	}
	src := "package x\n\n" + body("long", maxFuncLines+1) + body("fits", maxFuncLines) +
		"var lit = func() {\n" + strings.Repeat("\tprintln()\n", maxFuncLines-1) + "}\n"
	if err := os.MkdirAll(filepath.Join(dir, "testdata"), 0o777); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"x.go", filepath.Join("testdata", "skipped.go")} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(src), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	long, files, err := longFuncs(dir, maxFuncLines)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "x.go") + ":3: func long is 101 lines",
		filepath.Join(dir, "x.go") + fmt.Sprintf(":%d: func literal is 101 lines", 3+maxFuncLines+1+maxFuncLines),
	}
	if files != 1 || strings.Join(long, "\n") != strings.Join(want, "\n") {
		t.Errorf("longFuncs: %d files, %q; want 1 file, %q", files, long, want)
	}
}

// longFuncs returns, as "file:line: func name is n lines", every function
// declaration or literal of the .go files under dir (testdata left out)
// over max lines, and the number of files read.
func longFuncs(dir string, max int) (long []string, files int, err error) {
	fset := token.NewFileSet()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			name := "literal"
			switch fn := n.(type) {
			case *ast.FuncDecl:
				if fn.Body == nil {
					return true
				}
				name = fn.Name.Name
				if fn.Recv != nil && len(fn.Recv.List) == 1 {
					name = recvName(fn.Recv.List[0].Type) + "." + name
				}
			case *ast.FuncLit:
			default:
				return true
			}
			start, end := fset.Position(n.Pos()), fset.Position(n.End())
			if lines := end.Line - start.Line + 1; lines > max {
				long = append(long, fmt.Sprintf("%s:%d: func %s is %d lines", p, start.Line, name, lines))
			}
			return true
		})
		return nil
	})
	return long, files, err
}

// recvName returns the type name of a method's receiver.
func recvName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return "(*" + recvName(x.X) + ")"
	case *ast.IndexExpr:
		return recvName(x.X)
	case *ast.IndexListExpr:
		return recvName(x.X)
	case *ast.Ident:
		return x.Name
	}
	return "?"
}
