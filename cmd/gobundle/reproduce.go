package main

import "github.com/gobundle/gobundle/internal/repro"

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
