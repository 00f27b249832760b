package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gobundle/gobundle/bundle"
)

// Incremental bundles (docs/FORMAT.md) hold only what their bases lack and
// read the rest from them, found by bundle digest among the bundles of the
// view. linkBundles links them before the view merges their indexes; one
// whose bases are not all loaded (or not all linked in turn) is refused:
// named as a file, the view fails, naming the missing digest; found in a
// directory, it is skipped (logged, in /healthz and in /metrics as
// gobundle_serve_bundles_missing_base) and the rest is served, until a
// reload finds its base.
func (v *view) linkBundles(log *slog.Logger) error {
	for {
		var readers []*bundle.Reader
		for _, b := range v.bundles {
			if rs, ok := b.src.(readerSource); ok {
				readers = append(readers, rs.Reader)
			}
		}
		drop := -1
		var why error
		for i, b := range v.bundles {
			rs, ok := b.src.(readerSource)
			if !ok || !rs.Incremental() {
				continue
			}
			if err := rs.Link(readers); err != nil {
				drop, why = i, err
				break
			}
			if missing := rs.MissingBases(); len(missing) > 0 {
				drop, why = i, &bundle.MissingBaseError{Bundle: b.name, Digest: missing[0]}
				break
			}
		}
		if drop < 0 {
			return nil
		}
		b := v.bundles[drop]
		err := fmt.Errorf("%w: serve it with its bases", why)
		if !b.fromDir {
			return err
		}
		log.Error("skipping incremental bundle whose bases are not loaded", "bundle", b.name, "err", err)
		v.bad = append(v.bad, badBundle{name: b.name, err: err})
		v.bundles = slices.Delete(v.bundles, drop, drop+1)
		b.release(log)
	}
}

// missingBase counts the bundles skipped for want of their bases.
func (v *view) missingBase() int {
	n := 0
	for _, b := range v.bad {
		if errors.Is(b.err, bundle.ErrMissingBase) {
			n++
		}
	}
	return n
}
