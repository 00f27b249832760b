package bundle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/testkit/hostile"
)

// A hostile bundle has correct checksums: whoever swapped it recomputed
// them. Each case of internal/testkit/hostile is one finding of issue 11,
// built in the test at a few hundred KB at most; the readers must refuse
// it naming the entry, or serve it within the bounds docs/FORMAT.md
// states.

// TestHostileBundlesRefused opens every crafted bundle: it is refused
// with an error naming the entry, or every file reads within bounds.
func TestHostileBundlesRefused(t *testing.T) {
	ctx := context.Background()
	for _, c := range hostile.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			data, err := c.Build()
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > 400<<10 {
				t.Fatalf("crafted bundle is %d bytes, want a few hundred KB at most", len(data))
			}
			err = hostileOps(ctx, data, t.TempDir())
			if c.Want == "" {
				if err != nil {
					t.Fatalf("within bounds, yet: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.Want) || !errors.Is(err, bundle.ErrCorrupt) {
				t.Fatalf("got %v, want an ErrCorrupt naming %q", err, c.Want)
			}
		})
	}
}

// hostileOps does to a bundle what inspect, verify, unpack and serve do:
// open it, list it, verify it, unpack it and read every file.
func hostileOps(ctx context.Context, data []byte, dir string) error {
	name := filepath.Join(dir, "h.gobundle")
	if err := os.WriteFile(name, data, 0o666); err != nil {
		return err
	}
	r, err := bundle.Open(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	r.Stats()
	r.Modules()
	r.Extras()
	if problems := r.Verify(ctx, nil); len(problems) > 0 {
		return fmt.Errorf("verify: %v", problems)
	}
	if err := r.Unpack(ctx, filepath.Join(dir, "out"), nil); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	for _, m := range r.Modules() {
		for _, k := range []bundle.FileKind{bundle.KindInfo, bundle.KindMod, bundle.KindZip} {
			f, err := r.OpenFile(ctx, m.Path, m.Version, k)
			if err != nil {
				continue
			}
			_, err = io.Copy(io.Discard, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
