package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit/hostile"
	"github.com/gobundle/gobundle/internal/testkit/tally"
)

// Acceptance 1 of issue 11 at the command line: inspect, verify and
// unpack refuse each crafted bundle with exit 1 and an error naming the
// entry, or handle it within bounds; unpack never writes outside its
// directory.
func TestCommandsRefuseHostileBundles(t *testing.T) {
	getenv := func(k string) string {
		if k == "PATH" {
			return os.Getenv(k)
		}
		return ""
	}
	for _, c := range hostile.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			data, err := c.Build()
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			name := filepath.Join(dir, "crafted.gobundle")
			if err := os.WriteFile(name, data, 0o666); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out", "a", "b")
			for _, args := range [][]string{{"inspect", name}, {"verify", name}, {"unpack", name, out}} {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, &stdout, &stderr, getenv)
				tally.Add(t, tally.Inputs, 1)
				if code != 0 {
					tally.Add(t, tally.Errors, 1)
				}
				switch {
				case c.Want != "":
					if code != 1 || !strings.Contains(stderr.String(), c.Want) {
						t.Errorf("%s: exit %d, stderr %q; want 1 and %q", args[0], code, stderr.String(), c.Want)
					}
				case args[0] == "verify" && c.Name == "sumdb-name-escape":
					if code != 1 || !strings.Contains(stderr.String(), `checksum database name "../escaped"`) {
						t.Errorf("verify: exit %d, stderr %q", code, stderr.String())
					}
				case code != 0:
					t.Errorf("%s: exit %d, stderr %q", args[0], code, stderr.String())
				}
			}
			// Whatever unpack did, it did inside out.
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && p != dir && p != name && !strings.HasPrefix(p, out) && !strings.HasPrefix(out, p) {
					t.Errorf("unpack wrote %s, outside %s", p, out)
				}
				return nil
			})
		})
	}
}
