package pipeline

import (
	"context"
	"fmt"
	"strconv"

	"github.com/klauspost/compress/zstd"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/repro"
	"github.com/gobundle/gobundle/internal/sumdbstore"
)

// reproduceTarget is the bundle a run with [Options.Reproduce] rebuilds:
// its storage settings and checksum database tree, taken for the rebuild.
type reproduceTarget struct {
	file    string
	storage bundle.WriterOptions // Created, Level, FrameSize, RawZips
	hasTree bool
}

func (j *job) openTarget(ctx context.Context) (err error) {
	if j.opts.Reproduce == "" {
		return nil
	}
	if j.target, err = openTarget(ctx, j.opts.Reproduce); err != nil {
		return err
	}
	j.storage.Created, j.storage.Level = j.target.storage.Created, j.target.storage.Level
	j.storage.FrameSize, j.storage.RawZips = j.target.storage.FrameSize, j.target.storage.RawZips
	return nil
}

// openTarget reads the settings a rebuild of file takes from it.
func openTarget(ctx context.Context, file string) (*reproduceTarget, error) {
	r, err := bundle.Open(ctx, file)
	if err != nil {
		return nil, fmt.Errorf("create --reproduce: %w", err)
	}
	defer r.Close()
	m := r.Meta()
	t := &reproduceTarget{file: file, storage: bundle.WriterOptions{Created: m.Created}}
	if lv := sumdbstore.Property(m, bundle.PropLevel); lv != "" {
		ok, level := zstd.EncoderLevelFromString(lv)
		if !ok {
			return nil, fmt.Errorf("create --reproduce: %s: unknown %s %q", file, bundle.PropLevel, lv)
		}
		t.storage.Level = level
	} else {
		// Written before bundles recorded it: create's default then.
		t.storage.Level = zstd.SpeedDefault
	}
	if fs := sumdbstore.Property(m, bundle.PropFrameSize); fs != "" {
		n, err := strconv.Atoi(fs)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("create --reproduce: %s: bad %s %q", file, bundle.PropFrameSize, fs)
		}
		t.storage.FrameSize = n
	}
	t.storage.RawZips = sumdbstore.Property(m, bundle.PropRawZips) == "true"
	for _, x := range r.Extras() {
		if x.Kind == sumdbstore.Kind {
			t.hasTree = true
			break
		}
	}
	return t, nil
}

func (j *job) compare(ctx context.Context) (err error) {
	if j.target == nil {
		return nil
	}
	j.report, err = compareBundles(ctx, j.target.file, j.opts.Output)
	return err
}

// compareBundles compares the rebuilt bundle file with the old one.
func compareBundles(ctx context.Context, oldFile, rebuilt string) (*repro.Report, error) {
	old, err := bundle.Open(ctx, oldFile)
	if err != nil {
		return nil, err
	}
	defer old.Close()
	nr, err := bundle.Open(ctx, rebuilt)
	if err != nil {
		return nil, err
	}
	defer nr.Close()
	rep, err := repro.Compare(ctx, old, nr)
	if err != nil {
		return nil, fmt.Errorf("create --reproduce: %w", err)
	}
	return rep, nil
}
