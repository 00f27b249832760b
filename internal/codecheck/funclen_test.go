package codecheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines is the most lines a function may take, from its func
// keyword to its closing brace (the guide asks for about 80).
const maxFuncLines = 100

// checkedDirs are the directories, from the module root, whose functions
// (tests included) are held to maxFuncLines.
var checkedDirs = []string{"cmd", "resolver", "serve"}

// TestFunctionLength fails naming every function of the checked
// directories over maxFuncLines lines.
func TestFunctionLength(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	n := 0
	for _, d := range checkedDirs {
		long, files, err := longFuncs(filepath.Join(root, d), maxFuncLines)
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
