package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/klauspost/compress/zstd"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/repro"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/resolver"
)

// reproduceTarget is the bundle create --reproduce rebuilds: its storage
// settings and checksum database tree, taken for the rebuild.
type reproduceTarget struct {
	file    string
	storage bundle.WriterOptions // Created, Level, FrameSize, RawZips
	hasTree bool
}

// openReproduceTarget reads the settings a rebuild of file takes from it.
func openReproduceTarget(ctx context.Context, file string) (*reproduceTarget, error) {
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

// pinnedTree returns the signed tree head to prove records in: from
// --sumdb-tree, or the bundle being reproduced; nil for the newest.
func (c *CreateCmd) pinnedTree(ctx context.Context, sumdb *resolver.SumDB, old *reproduceTarget) ([]byte, error) {
	from, flag := c.SumDBTree, "--sumdb-tree"
	if old != nil {
		if !old.hasTree {
			return nil, nil
		}
		from, flag = old.file, "--reproduce"
	}
	if from == "" {
		return nil, nil
	}
	if sumdb == nil {
		return nil, usageError{fmt.Errorf("create: %s needs the checksum database (not --sumdb off)", flag)}
	}
	tree, err := readTreeHead(ctx, from, sumdb.Name(), sumdb.Key())
	if err != nil {
		return nil, fmt.Errorf("create: %s: %w", flag, err)
	}
	return tree, nil
}

// compare compares the rebuilt bundle file with the target.
func (t *reproduceTarget) compare(ctx context.Context, rebuilt string) (*repro.Report, error) {
	old, err := bundle.Open(ctx, t.file)
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

// reproduceJSON is the "reproduce" object of create --json.
type reproduceJSON struct {
	Old              string   `json:"old"`
	Match            bool     `json:"match"`
	ContentMatch     bool     `json:"content_match"`
	OldDigest        string   `json:"old_digest"`
	Digest           string   `json:"digest"`
	OldContentDigest string   `json:"old_content_digest"`
	ContentDigest    string   `json:"content_digest"`
	OnlyInOld        []string `json:"only_in_old"`
	OnlyInRebuild    []string `json:"only_in_rebuild"`
	Files            []string `json:"files"`
	Meta             []string `json:"meta"`
}

func reproduceSummary(old string, r *repro.Report) *reproduceJSON {
	j := &reproduceJSON{Old: old, Match: r.Match(), ContentMatch: r.ContentMatch(),
		OldDigest: "sha256:" + r.OldDigest.String(), Digest: "sha256:" + r.NewDigest.String(),
		OldContentDigest: "sha256:" + r.OldContent.String(), ContentDigest: "sha256:" + r.NewContent.String(),
		OnlyInOld: nonNil(r.Removed), OnlyInRebuild: nonNil(r.Added), Files: []string{}, Meta: []string{}}
	for _, f := range r.Files {
		j.Files = append(j.Files, f.Path)
	}
	for _, c := range r.Meta {
		j.Meta = append(j.Meta, c.Field)
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
