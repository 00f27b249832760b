package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sort"

	"golang.org/x/mod/sumdb/dirhash"
)

// Verify re-checks the whole bundle: the sha256 of every stored frame and
// of every blob after decompression, every module's go.sum hashes against
// its content, and every zip's sha256 as served. The header, trailer and
// index were checked when the bundle was opened. It returns one Problem per
// bad entry; none means the bundle is intact.
func (r *Reader) Verify(ctx context.Context, progress func(Event)) []Problem {
	var problems []Problem
	report := func(entry string, err error) {
		problems = append(problems, Problem{Entry: entry, Err: err})
	}
	if r.zipTableErr != nil && !r.tableBlobBad() {
		// A table whose bytes are intact but whose entries break their
		// bounds: the frame pass below would find nothing.
		report(ExtraKindZips+" "+DeflatedTable, r.zipTableErr)
	}
	users := r.blobUsers()
	ix := r.ix
	total := int64(len(ix.frames) + len(ix.mods))
	done := int64(0)
	step := func(item string) {
		done++
		if progress != nil {
			progress(Event{Phase: "verify", Item: item, Done: done, Total: total})
		}
	}

	// Frames and blobs: frames were laid out in blob order.
	badBlob := make(map[uint32]bool)
	bi := 0
	for fi, f := range ix.frames {
		if err := ctx.Err(); err != nil {
			report("verify", err)
			return problems
		}
		entry := fmt.Sprintf("frame %d", fi)
		start := bi
		for bi < ix.local && ix.blobs[bi].frame == uint32(fi) {
			bi++
		}
		data, err := r.verifyFrame(ctx, uint32(fi), f)
		if err != nil {
			report(entry+" (holding "+describeUsers(users, start, bi)+")", err)
			for i := start; i < bi; i++ {
				badBlob[uint32(i)] = true
			}
			step(entry)
			continue
		}
		for i := start; i < bi; i++ {
			b := ix.blobs[i]
			if sha256.Sum256(data[b.off:b.off+b.size]) != b.sum {
				report(users[i], fmt.Errorf("content sha256 mismatch: %w", ErrCorrupt))
				badBlob[uint32(i)] = true
			}
		}
		step(entry)
	}
	if bi != ix.local {
		report("index", fmt.Errorf("blobs are not in frame order: %w", ErrCorrupt))
		return problems
	}

	// Module hashes, through the bases when linked.
	linked := r.Linked()
	if linked {
		problems = append(problems, r.verifyRefs()...)
	}
	for i := range ix.mods {
		if err := ctx.Err(); err != nil {
			report("verify", err)
			return problems
		}
		m := &ix.mods[i]
		name := m.path + "@" + m.version
		if !linked && ix.usesBase(m) {
			step(name) // NeedBases names it: its check needs the bases
			continue
		}
		if m.mod != noBlob && !badBlob[m.mod] {
			data, err := r.blob(ctx, m.mod, name+" mod")
			if err == nil {
				var h string
				h, err = goModHash(data)
				if err == nil && h != m.modHash {
					err = fmt.Errorf("go.mod hash %s, index says %s: %w", h, m.modHash, ErrCorrupt)
				}
			}
			if err != nil {
				report(name+" mod", err)
			}
		}
		if m.zipKind != zipNone && !r.zipBlobsBad(m, badBlob) {
			if err := r.verifyZip(ctx, m); err != nil {
				report(name+" zip", err)
			}
		}
		step(name)
	}
	return problems
}

func (r *Reader) verifyFrame(ctx context.Context, i uint32, f frameEntry) ([]byte, error) {
	comp, err := r.readStoredFrame(i, nil)
	if err != nil {
		return nil, err
	}
	if sha256.Sum256(comp) != f.sum {
		return nil, fmt.Errorf("stored sha256 mismatch: %w", ErrCorrupt)
	}
	// Decompress without the cache: this pass reads every frame once, and
	// filling the cache with them would only raise peak memory.
	return r.decodeFrame(ctx, i, comp, nil)
}

func (r *Reader) zipBlobsBad(m *modEntry, bad map[uint32]bool) bool {
	if m.zipKind == zipRaw {
		return bad[m.zipBlob]
	}
	for _, f := range m.files {
		if bad[f.blob] {
			return true
		}
	}
	return false
}

// verifyZip checks a zip's h1: hash from its files and the sha256 of the
// zip bytes a reader serves.
func (r *Reader) verifyZip(ctx context.Context, m *modEntry) error {
	name := m.path + "@" + m.version + " zip"
	var h1 string
	var err error
	if m.zipKind == zipRaw {
		data, err := r.blob(ctx, m.zipBlob, name)
		if err != nil {
			return err
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return fmt.Errorf("%v: %w", err, ErrCorrupt)
		}
		files := make([]string, len(zr.File))
		byName := make(map[string]*zip.File, len(zr.File))
		for i, f := range zr.File {
			files[i] = f.Name
			byName[f.Name] = f
		}
		h1, err = dirhash.Hash1(files, func(n string) (io.ReadCloser, error) { return byName[n].Open() })
		if err != nil {
			return err
		}
	} else {
		prefix := zipPrefix(m.path, m.version)
		files := make([]string, len(m.files))
		byName := make(map[string]uint32, len(m.files))
		for i, f := range m.files {
			files[i] = prefix + f.name
			byName[files[i]] = f.blob
		}
		// Hash1 reads the files in name order. When the rebuilt zip lists
		// them in that order too (as writers since format 1's sorted layout
		// do), the served zip's sha256 is taken in the same pass, each blob
		// read once.
		inOrder := sort.SliceIsSorted(files, func(i, j int) bool { return files[i] < files[j] })
		var layout *zipLayout
		zipSum := sha256.New()
		next := 0
		if inOrder {
			layout = newZipLayout(m, r.ix.blobs)
		}
		h1, err = dirhash.Hash1(files, func(n string) (io.ReadCloser, error) {
			data, err := r.blob(ctx, byName[n], name)
			if err != nil {
				return nil, err
			}
			if inOrder {
				zipSum.Write(layout.localHeader(next))
				zipSum.Write(data)
				next++
			}
			return io.NopCloser(bytes.NewReader(data)), nil
		})
		if err != nil {
			return err
		}
		if h1 != m.zipHash {
			return fmt.Errorf("h1 hash %s, index says %s: %w", h1, m.zipHash, ErrCorrupt)
		}
		if inOrder && next == len(m.files) {
			zipSum.Write(layout.centralDirectory())
			if Sum(zipSum.Sum(nil)) != m.zipSum {
				return fmt.Errorf("zip sha256 mismatch: %w", ErrCorrupt)
			}
			return nil
		}
	}
	if h1 != m.zipHash {
		return fmt.Errorf("h1 hash %s, index says %s: %w", h1, m.zipHash, ErrCorrupt)
	}
	f, err := r.OpenFile(ctx, m.path, m.version, KindZip)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if Sum(h.Sum(nil)) != m.zipSum {
		return fmt.Errorf("zip sha256 mismatch: %w", ErrCorrupt)
	}
	return nil
}

// blobUsers names, for each blob, the first entry that uses it.
func (r *Reader) blobUsers() []string {
	users := make([]string, len(r.ix.blobs))
	set := func(b uint32, name string) {
		if b != noBlob && users[b] == "" {
			users[b] = name
		}
	}
	for i := range r.ix.mods {
		m := &r.ix.mods[i]
		mv := m.path + "@" + m.version
		set(m.info, mv+" info")
		set(m.mod, mv+" mod")
		if m.zipKind == zipRaw {
			set(m.zipBlob, mv+" zip")
		}
		for _, f := range m.files {
			set(f.blob, mv+" zip: "+f.name)
		}
	}
	for _, x := range r.ix.extras {
		set(x.blob, x.kind+" "+x.name)
	}
	for i, u := range users {
		if u == "" {
			users[i] = fmt.Sprintf("blob %d", i)
		}
	}
	return users
}

// describeUsers summarizes the entries of blobs [start, end).
func describeUsers(users []string, start, end int) string {
	seen := map[string]bool{}
	var names []string
	for _, u := range users[start:end] {
		if !seen[u] {
			seen[u] = true
			names = append(names, u)
		}
	}
	sort.Strings(names)
	if len(names) > 3 {
		return fmt.Sprintf("%s and %d more", names[0], len(names)-1)
	}
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
