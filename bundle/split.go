package bundle

import "sort"

// SizeSplit is how a bundle file's bytes divide between what it carries:
// Modules + sum(Extras) + Index + Framing == the file size.
type SizeSplit struct {
	// Modules is the compressed size of the frames holding module files
	// (.info, .mod and zip content).
	Modules int64 `json:"modules"`
	// Extras is the compressed size of the frames holding extras, by kind
	// ("sumdb" for the checksum database's records and tiles).
	Extras map[string]int64 `json:"extras"`
	// Index is the compressed index; Framing the header and trailer.
	Index   int64 `json:"index"`
	Framing int64 `json:"framing"`
}

// moduleOwner marks a blob owned by a module version in SizeSplit.
const moduleOwner = ""

// SizeSplit returns the split of the bundle's size. A frame holding blobs
// of several owners (a blob belongs to the modules if a module version
// holds it, else to the kind of the first extra naming it) is divided in
// proportion to their uncompressed bytes.
func (r *Reader) SizeSplit() SizeSplit {
	ix := r.ix
	owner := make(map[uint32]string, ix.local)
	for i := range ix.extras {
		x := &ix.extras[i]
		if _, ok := owner[x.blob]; !ok {
			owner[x.blob] = x.kind
		}
	}
	mark := func(ref uint32) {
		if ref != noBlob {
			owner[ref] = moduleOwner
		}
	}
	for i := range ix.mods {
		m := &ix.mods[i]
		mark(m.info)
		mark(m.mod)
		mark(m.zipBlob)
		for _, f := range m.files {
			mark(f.blob)
		}
	}
	raw := make([]map[string]int64, len(ix.frames))
	for i, b := range ix.blobs[:ix.local] {
		if int(b.frame) >= len(raw) {
			continue
		}
		if raw[b.frame] == nil {
			raw[b.frame] = map[string]int64{}
		}
		o, ok := owner[uint32(i)]
		if !ok {
			o = moduleOwner // stored but unnamed: counted with the modules
		}
		raw[b.frame][o] += b.size
	}
	s := SizeSplit{Extras: map[string]int64{}, Index: r.tr.indexLen}
	var frames int64
	for i, f := range ix.frames {
		frames += f.clen
		shares := raw[i]
		var total int64
		owners := make([]string, 0, len(shares))
		for o, n := range shares {
			total += n
			owners = append(owners, o)
		}
		if total == 0 {
			s.Modules += f.clen
			continue
		}
		sort.Strings(owners)
		left := f.clen
		for k, o := range owners {
			part := f.clen * shares[o] / total
			if k == len(owners)-1 {
				part = left
			}
			left -= part
			if o == moduleOwner {
				s.Modules += part
			} else {
				s.Extras[o] += part
			}
		}
	}
	s.Framing = r.size - frames - s.Index
	return s
}
