package repro

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/gobundle/gobundle/bundle"
)

// The digest is sha256sum's output for the files, sorted by path, hashed.
func TestDigestIsSha256sumOfTheTree(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte(""))
	files := []bundle.ServedFile{{Path: "example.com/a/@v/list", SHA256: b}, {Path: "example.com/a/@v/v1.0.0.info", SHA256: a}}
	manifest := hex.EncodeToString(b[:]) + "  example.com/a/@v/list\n" + hex.EncodeToString(a[:]) + "  example.com/a/@v/v1.0.0.info\n"
	if got, want := Digest(files), bundle.Sum(sha256.Sum256([]byte(manifest))); got != want {
		t.Fatalf("Digest = %s, want %s", got, want)
	}
	if Digest(files[:1]) == Digest(files) {
		t.Fatal("a file more, same digest")
	}
}

func TestModuleOfFile(t *testing.T) {
	for p, want := range map[string]string{
		"example.com/!upper/!mod/@v/v1.1.0-!r!c1.zip": "example.com/Upper/Mod@v1.1.0-RC1",
		"example.com/a/@v/v1.0.0.info":                "example.com/a@v1.0.0",
		"example.com/a/@v/list":                       "",
		"sumdb/db.test/latest":                        "",
	} {
		got, ok := moduleOfFile(p)
		if got != want || ok != (want != "") {
			t.Errorf("moduleOfFile(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
}
