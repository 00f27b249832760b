package pipeline

import (
	"context"
	"fmt"

	"github.com/gobundle/gobundle/bundle"
)

// bases are the earlier bundles a create builds on (stage "bases").
type bases struct {
	// delta are Options.Base: the bundle is incremental on them.
	delta []*bundle.Reader
	// sumdb are Options.Base and Options.SumDBSince: their checksum
	// database trees are proven consistent with the new bundle's.
	sumdb []*bundle.Reader
}

// openBases opens Options.Base and Options.SumDBSince, linked among each
// other (an incremental base needs its own bases given too), for the
// writer and the sumdb stage.
func (j *job) openBases(ctx context.Context) error {
	j.bases = &bases{}
	if j.opts.DryRun && len(j.opts.SumDBSince) == 0 {
		return nil
	}
	names := append(append([]string(nil), j.opts.Base...), j.opts.SumDBSince...)
	for _, name := range names {
		r, err := bundle.Open(ctx, name)
		if err != nil {
			return fmt.Errorf("create: base: %w", err)
		}
		j.onClose(func() { r.Close() })
		j.bases.sumdb = append(j.bases.sumdb, r)
	}
	if err := bundle.LinkAll(j.bases.sumdb); err != nil {
		return fmt.Errorf("create: %w: give that bundle with --base too", err)
	}
	j.bases.delta = j.bases.sumdb[:len(j.opts.Base)]
	return nil
}
