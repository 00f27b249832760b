package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Incremental bundles (docs/FORMAT.md, "Incremental bundles"): a bundle
// written with WriterOptions.Bases holds only the module versions and
// extras its bases lack, and refers to content a base holds (down to the
// files inside zips) by the base's bundle digest and the content's sha256
// instead of storing it again. Its header carries FlagIncremental, which
// readers that predate it refuse, and its index a section naming the bases
// and the referenced blobs. Reading such a blob needs the base: see
// [Reader.Link].

// FlagIncremental is the header flag of an incremental bundle.
const FlagIncremental uint32 = 1

// knownFlags are the header flags this reader understands.
const knownFlags = FlagIncremental

// maxBases bounds the bases an incremental bundle may name.
const maxBases = 1024

// minRefBytes is the smallest encoding of a reference to a base's blob:
// base, size, sha256, crc.
const minRefBytes = 1 + 1 + 32 + 4

// ErrMissingBase is wrapped by the error for reading content of an
// incremental bundle whose base bundle is not linked.
var ErrMissingBase = errors.New("base bundle not loaded")

// MissingBaseError names the base bundle, by digest, that an incremental
// bundle needs and was not given.
type MissingBaseError struct {
	Bundle string // the incremental bundle
	Digest Sum    // bundle digest of the missing base
}

func (e *MissingBaseError) Error() string {
	return fmt.Sprintf("%s: incremental bundle needs base bundle sha256:%s, which is not loaded", e.Bundle, e.Digest)
}

func (e *MissingBaseError) Unwrap() error { return ErrMissingBase }

// encodeBases appends the section of an incremental index: the bases'
// digests and the references to their blobs (ix.blobs[ix.local:]).
func (ix *index) encodeBases(e *encoder) {
	e.uvarint(uint64(len(ix.bases)))
	for _, s := range ix.bases {
		e.sum(s)
	}
	refs := ix.blobs[ix.local:]
	e.uvarint(uint64(len(refs)))
	for _, b := range refs {
		e.uvarint(uint64(b.base - 1))
		e.uvarint(uint64(b.size))
		e.sum(b.sum)
		e.u32(b.crc)
	}
}

// decodeBases reads the section encodeBases writes, appending the
// references to ix.blobs: they are numbered after the stored blobs.
func (ix *index) decodeBases(d *decoder) {
	n := d.count(32)
	if d.err == nil && (n == 0 || n > maxBases) {
		d.fail(fmt.Errorf("incremental bundle names %d bases (1 to %d)", n, maxBases))
		return
	}
	ix.bases = make([]Sum, n)
	for i := range ix.bases {
		ix.bases[i] = d.sum()
		if d.err == nil && i > 0 && bytes.Compare(ix.bases[i-1][:], ix.bases[i][:]) >= 0 {
			d.fail(errors.New("bases not sorted or duplicated"))
			return
		}
	}
	m := d.count(minRefBytes)
	if d.err == nil && len(ix.blobs)+m > maxCount {
		d.fail(fmt.Errorf("%d blobs and %d references, more than %d", len(ix.blobs), m, maxCount))
		return
	}
	for i := 0; i < m && d.err == nil; i++ {
		base := d.uvarint()
		b := blobEntry{frame: noBlob, size: d.size(), sum: d.sum(), crc: d.u32()}
		switch {
		case d.err != nil:
			return
		case base >= uint64(n):
			d.fail(fmt.Errorf("reference %d: base %d out of range", i, base))
			return
		case b.size > maxFrameRaw:
			// Stored content lies in one frame of its base.
			d.fail(fmt.Errorf("reference %d: %d bytes, more than a frame holds", i, b.size))
			return
		case i > 0 && bytes.Compare(ix.blobs[len(ix.blobs)-1].sum[:], b.sum[:]) >= 0:
			d.fail(fmt.Errorf("reference %d: not sorted by sha256 or duplicated", i))
			return
		}
		b.base = uint32(base) + 1
		ix.blobs = append(ix.blobs, b)
	}
}

// Incremental reports whether the bundle is incremental: it needs its
// bases (Bases) to serve everything it lists.
func (r *Reader) Incremental() bool { return r.ix.flags&FlagIncremental != 0 }

// Bases returns the bundle digests of an incremental bundle's bases,
// sorted; nil for a self-contained bundle.
func (r *Reader) Bases() []Sum { return slices.Clone(r.ix.bases) }

// Link gives an incremental bundle its bases, found by bundle digest among
// available (which may hold other bundles too). A base that is not there
// gives a *MissingBaseError naming its digest. A base may be incremental
// itself; it must be linked for content it refers to in turn. Link may be
// called again (a reload), and is a no-op for a self-contained bundle.
func (r *Reader) Link(available []*Reader) error {
	if !r.Incremental() {
		return nil
	}
	links := make([]*Reader, len(r.ix.bases))
	for i, d := range r.ix.bases {
		for _, b := range available {
			if b != nil && b != r && b.Digest() == d {
				links[i] = b
				break
			}
		}
		if links[i] == nil {
			return &MissingBaseError{Bundle: r.name, Digest: d}
		}
	}
	r.links.Store(&links)
	return nil
}

// Linked reports whether every blob the bundle lists can be read: it is
// self-contained, or Link found its bases (and, recursively, theirs).
func (r *Reader) Linked() bool {
	if !r.Incremental() {
		return true
	}
	lp := r.links.Load()
	if lp == nil {
		return false
	}
	for _, b := range *lp {
		if !b.Linked() {
			return false
		}
	}
	return true
}

// MissingBases returns the digests of the bases (also of bases of bases)
// that are not linked, sorted.
func (r *Reader) MissingBases() []Sum {
	if !r.Incremental() {
		return nil
	}
	lp := r.links.Load()
	if lp == nil {
		return r.Bases()
	}
	var out []Sum
	for _, b := range *lp {
		out = append(out, b.MissingBases()...)
	}
	slices.SortFunc(out, func(a, b Sum) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// bySum returns the blob holding content sum (stored or referenced).
func (r *Reader) blobBySum(sum Sum) (uint32, bool) {
	r.sumOnce.Do(func() {
		r.sums = make(map[Sum]uint32, len(r.ix.blobs))
		for i, b := range r.ix.blobs {
			if _, ok := r.sums[b.sum]; !ok {
				r.sums[b.sum] = uint32(i)
			}
		}
	})
	i, ok := r.sums[sum]
	return i, ok
}

// baseBlob reads a blob that base b.base-1 holds, through Link.
func (r *Reader) baseBlob(ctx context.Context, b blobEntry, entry string) ([]byte, bool, error) {
	lp := r.links.Load()
	if lp == nil {
		return nil, false, fmt.Errorf("%s: %w", entry, &MissingBaseError{Bundle: r.name, Digest: r.ix.bases[b.base-1]})
	}
	base := (*lp)[b.base-1]
	j, ok := base.blobBySum(b.sum)
	if !ok {
		return nil, false, fmt.Errorf("%s: %s: base bundle %s holds no content sha256:%s: %w", r.name, entry, base.name, b.sum, ErrCorrupt)
	}
	if base.ix.blobs[j].size != b.size {
		return nil, false, fmt.Errorf("%s: %s: base bundle %s holds sha256:%s with %d bytes, not %d: %w", r.name, entry, base.name, b.sum, base.ix.blobs[j].size, b.size, ErrCorrupt)
	}
	return base.blobSlice(ctx, j, entry)
}

// usesBase reports whether module entry m reads a base's blob.
func (ix *index) usesBase(m *modEntry) bool {
	is := func(ref uint32) bool { return ref != noBlob && ix.blobs[ref].base != 0 }
	if is(m.info) || is(m.mod) || (m.zipKind == zipRaw && is(m.zipBlob)) {
		return true
	}
	for _, f := range m.files {
		if is(f.blob) {
			return true
		}
	}
	return false
}

// NeedBases returns the module versions ("path@version") whose content
// Verify could not check because they read blobs of bases not linked.
func (r *Reader) NeedBases() []string {
	if r.Linked() {
		return nil
	}
	var out []string
	for i := range r.ix.mods {
		if m := &r.ix.mods[i]; r.ix.usesBase(m) {
			out = append(out, m.path+"@"+m.version)
		}
	}
	return out
}

// baseSet is what a Writer with bases knows of them: the content they
// hold and their module versions, to leave out what they hold.
type baseSet struct {
	readers []*Reader // sorted by digest
	sums    map[Sum]uint32
}

// newBaseSet returns the set of bases and, for incremental ones, their
// bases in turn (which must be linked): a delta on a delta refers to
// content where it is stored and names every bundle it needs.
func newBaseSet(bases []*Reader) (*baseSet, error) {
	var rs []*Reader
	var add func(r *Reader) error
	add = func(r *Reader) error {
		rs = append(rs, r)
		if !r.Incremental() {
			return nil
		}
		lp := r.links.Load()
		if lp == nil {
			return &MissingBaseError{Bundle: r.name, Digest: r.ix.bases[0]}
		}
		for _, b := range *lp {
			if err := add(b); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range bases {
		if err := add(r); err != nil {
			return nil, err
		}
	}
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i].Digest(), rs[j].Digest()
		return bytes.Compare(a[:], b[:]) < 0
	})
	rs = slices.CompactFunc(rs, func(a, b *Reader) bool { return a.Digest() == b.Digest() })
	s := &baseSet{readers: rs, sums: map[Sum]uint32{}}
	for k, r := range rs {
		for _, b := range r.ix.blobs[:r.ix.local] {
			if _, ok := s.sums[b.sum]; !ok {
				s.sums[b.sum] = uint32(k) + 1
			}
		}
	}
	return s, nil
}

// modInBase reports whether a base holds every file of m with the same
// content, so that the incremental bundle leaves m out. A base holding m
// with different content is an error: the two could not be served
// together.
func (s *baseSet) modInBase(m *wmod) (bool, error) {
	for _, r := range s.readers {
		bm, ok := r.Module(m.path, m.version)
		if !ok {
			continue
		}
		differ := func(what string) error {
			return fmt.Errorf("%s@%s: %s differs from base bundle %s (sha256:%s): they could not be served together", m.path, m.version, what, r.name, r.Digest())
		}
		same := true
		switch {
		case m.info != nil && bm.Info != nil && m.info.sum != bm.Info.SHA256:
			return false, differ(".info")
		case m.mod != nil && bm.Mod != nil && m.modHash != bm.ModHash:
			return false, differ(".mod")
		case m.zipKind != zipNone && bm.Zip != nil && m.zipHash != bm.ZipHash:
			return false, differ(".zip")
		}
		if (m.info != nil && bm.Info == nil) || (m.mod != nil && (bm.Mod == nil || m.mod.sum != bm.Mod.SHA256)) ||
			(m.zipKind != zipNone && (bm.Zip == nil || m.zipSum != storedZip(bm).SHA256)) {
			same = false
		}
		if same {
			return true, nil
		}
	}
	return false, nil
}

// digests returns the bases' bundle digests, sorted.
func (s *baseSet) digests() []Sum {
	out := make([]Sum, len(s.readers))
	for i, r := range s.readers {
		out[i] = r.Digest()
	}
	return out
}

// verifyRefs checks, when the bases are linked, that each base holds the
// content every reference names, with its size.
func (r *Reader) verifyRefs() []Problem {
	lp := r.links.Load()
	if lp == nil {
		return nil
	}
	var problems []Problem
	for i, b := range r.ix.blobs[r.ix.local:] {
		base := (*lp)[b.base-1]
		j, ok := base.blobBySum(b.sum)
		if !ok || base.ix.blobs[j].size != b.size {
			problems = append(problems, Problem{Entry: fmt.Sprintf("reference %d", i),
				Err: fmt.Errorf("base bundle %s holds no content sha256:%s of %d bytes: %w", base.name, b.sum, b.size, ErrCorrupt)})
		}
	}
	return problems
}

// holds returns 1 + the index of the first base holding content sum, or
// 0; s may be nil.
func (s *baseSet) holds(sum Sum) uint32 {
	if s == nil {
		return 0
	}
	return s.sums[sum]
}

// omitted returns the module versions (*wmod) that a base holds with the
// same content, which an incremental bundle leaves out; the caller holds
// w.mu.
func (w *Writer) omitted() (map[any]bool, error) {
	omit := map[any]bool{}
	if w.bases == nil {
		return omit, nil
	}
	mods := make([]*wmod, 0, len(w.mods))
	for _, m := range w.mods {
		mods = append(mods, m)
	}
	// In order, so that a conflict names the same module every time.
	sort.Slice(mods, func(i, j int) bool {
		a, b := mods[i], mods[j]
		return a.path < b.path || (a.path == b.path && versionLess(a.version, b.version))
	})
	for _, m := range mods {
		in, err := w.bases.modInBase(m)
		if err != nil {
			return nil, err
		}
		if in {
			omit[m] = true
		}
	}
	// Extras are all listed (their content referred to where a base holds
	// it): the checksum database data of a bundle stays whole, one signed
	// tree head and the records and tiles proving it, so that it is
	// checked and served as one.
	return omit, nil
}

// baseRefs numbers, from first on, the base blobs the entries kept (not
// in omit) use, in sha256 order, and returns their index entries.
func (w *Writer) baseRefs(omit map[any]bool, first uint32) []blobEntry {
	used := map[*wblob]bool{}
	use := func(b *wblob) {
		if b != nil && b.base != 0 {
			used[b] = true
		}
	}
	for _, m := range w.mods {
		if omit[m] {
			continue
		}
		use(m.info)
		use(m.mod)
		use(m.zipBlob)
		for _, f := range m.files {
			use(f.blob)
		}
	}
	for _, x := range w.extras {
		if !omit[x] {
			use(x.blob)
		}
	}
	refs := make([]*wblob, 0, len(used))
	for b := range used {
		refs = append(refs, b)
	}
	sort.Slice(refs, func(i, j int) bool { return bytes.Compare(refs[i].sum[:], refs[j].sum[:]) < 0 })
	out := make([]blobEntry, len(refs))
	for i, b := range refs {
		b.index = first + uint32(i)
		out[i] = blobEntry{frame: noBlob, size: b.size, sum: b.sum, crc: b.crc, base: b.base}
	}
	return out
}

// Chain returns r followed by the bases it is linked to, and theirs, each
// once: every bundle serving r's union needs.
func (r *Reader) Chain() []*Reader {
	out := []*Reader{r}
	seen := map[Sum]bool{r.Digest(): true}
	for i := 0; i < len(out); i++ {
		lp := out[i].links.Load()
		if lp == nil {
			continue
		}
		for _, b := range *lp {
			if !seen[b.Digest()] {
				seen[b.Digest()] = true
				out = append(out, b)
			}
		}
	}
	return out
}

// LinkAll links every incremental bundle of rs to its bases among rs; a
// bundle whose bases (or theirs) are not all there is a *MissingBaseError
// naming the first missing digest.
func LinkAll(rs []*Reader) error {
	for _, r := range rs {
		if err := r.Link(rs); err != nil {
			return err
		}
	}
	for _, r := range rs {
		if m := r.MissingBases(); len(m) > 0 {
			return &MissingBaseError{Bundle: r.Name(), Digest: m[0]}
		}
	}
	return nil
}

// storedZip is the stored (or raw) form of m's zip, which the index's zip
// sha256 describes.
func storedZip(m Module) *FileInfo {
	if m.ZipStored != nil {
		return m.ZipStored
	}
	return m.Zip
}
