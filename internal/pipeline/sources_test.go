package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestWithSumDBKey(t *testing.T) {
	_, vkey, err := note.GenerateKey(nil, "sums.example.test")
	if err != nil {
		t.Fatal(err)
	}
	goroot := t.TempDir()
	keyGo := filepath.Join(goroot, "src", "cmd", "go", "internal", "modfetch", "key.go")
	if err := os.MkdirAll(filepath.Dir(keyGo), 0o777); err != nil {
		t.Fatal(err)
	}
	src := "package modfetch\n\nvar knownGOSUMDB = map[string]string{\n\t\"sums.example.test\": \"" + vkey + "\",\n}\n"
	if err := os.WriteFile(keyGo, []byte(src), 0o666); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for in, want := range map[string]string{
		"sums.example.test":                      vkey,
		"sums.example.test https://mirror.test/": vkey + " https://mirror.test/",
		"off":                                    "off",
		vkey:                                     vkey,
		vkey + " http://127.0.0.1:1":             vkey + " http://127.0.0.1:1",
	} {
		got, err := withSumDBKey(ctx, in, goroot)
		if err != nil || got != want {
			t.Errorf("withSumDBKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := withSumDBKey(ctx, "other.example.test", goroot); err == nil || !strings.Contains(err.Error(), "pass name+key") {
		t.Errorf("unknown database: err = %v", err)
	}
	if _, err := withSumDBKey(ctx, "sums.example.test", ""); err == nil {
		t.Error("no GOROOT: no error")
	}
}
