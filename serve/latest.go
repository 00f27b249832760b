package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gobundle/gobundle/bundle"
)

// listBody returns the @v/list answer: the versions of the module in the
// view that have an .info file, in semver order, one per line, without
// pseudo-versions (as other proxies and `gobundle unpack` trees list them).
func (me *modEntry) listBody() ([]byte, string) {
	me.listOnce.Do(func() {
		b := []byte{}
		for _, mv := range me.sorted {
			if !mv.info.ok() || module.IsPseudoVersion(mv.version) {
				continue
			}
			b = append(b, mv.version...)
			b = append(b, '\n')
		}
		me.list = b
		me.listTag = etag(sha256.Sum256(b))
	})
	return me.list, me.listTag
}

func etag(sum [32]byte) string {
	var buf [2 + 64]byte
	buf[0] = '"'
	hex.Encode(buf[1:], sum[:])
	buf[65] = '"'
	return string(buf[:])
}

// versionClass orders the go command's preference for @latest: a release,
// else a prerelease, else a pseudo-version.
func versionClass(v string) int {
	switch {
	case module.IsPseudoVersion(v):
		return 0
	case semver.Prerelease(v) != "":
		return 1
	}
	return 2
}

// pickLatest returns the version the go command's "latest" query would
// choose among the versions accepted by ok, or nil.
func pickLatest(sorted []*modVersion, ok func(*modVersion) bool) *modVersion {
	var best *modVersion
	bestClass := -1
	for _, mv := range sorted { // ascending, so a later one of the same class wins
		if !ok(mv) {
			continue
		}
		if c := versionClass(mv.version); c >= bestClass {
			best, bestClass = mv, c
		}
	}
	return best
}

// readSmall reads a whole module file of the view, checked against the
// bundle's checksums.
func readSmall(ctx context.Context, path string, mv *modVersion, kind bundle.FileKind) ([]byte, error) {
	loc := mv.loc(kind)
	f, err := loc.b.src.OpenFile(ctx, path, mv.version, kind)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, f.Size())
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, f.Size()), buf); err != nil {
		return nil, fmt.Errorf("%s@%s %s in %s: %w", path, mv.version, kind, loc.b.name, err)
	}
	return buf, nil
}

// latestBody returns the @latest answer: the .info of the version the go
// command's rules pick (highest release, else prerelease, else
// pseudo-version), skipping versions retracted by the go.mod of the highest
// version when the view holds it. ok is false when no version has an .info.
func (me *modEntry) latestBody(ctx context.Context) (body []byte, tag string, ok bool, err error) {
	me.latestMu.Lock()
	defer me.latestMu.Unlock()
	if me.latest != nil {
		return me.latest, me.latestTag, true, nil
	}
	hasInfo := func(mv *modVersion) bool { return mv.info.ok() }
	top := pickLatest(me.sorted, func(*modVersion) bool { return true })
	if top == nil {
		return nil, "", false, nil
	}
	var retracts []*modfile.Retract
	if top.mod.ok() {
		data, err := readSmall(ctx, me.path, top, bundle.KindMod)
		if err != nil {
			return nil, "", false, err
		}
		// A go.mod that does not parse retracts nothing, as for the go command.
		if f, perr := modfile.ParseLax(me.path+"@"+top.version+"/go.mod", data, nil); perr == nil {
			retracts = f.Retract
		}
	}
	retracted := func(v string) bool {
		for _, r := range retracts {
			if semver.Compare(r.Low, v) <= 0 && semver.Compare(v, r.High) <= 0 {
				return true
			}
		}
		return false
	}
	pick := pickLatest(me.sorted, func(mv *modVersion) bool { return hasInfo(mv) && !retracted(mv.version) })
	if pick == nil {
		// Everything is retracted: the go command then takes the highest anyway.
		pick = pickLatest(me.sorted, hasInfo)
	}
	if pick == nil {
		return nil, "", false, nil
	}
	data, err := readSmall(ctx, me.path, pick, bundle.KindInfo)
	if err != nil {
		return nil, "", false, err
	}
	me.latest = data
	me.latestTag = etag(pick.info.fi.SHA256)
	return me.latest, me.latestTag, true, nil
}
