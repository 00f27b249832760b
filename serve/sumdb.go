package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/sumdbstore"
)

// sumdbSource is what a source offers when it carries checksum database
// data (*bundle.Reader does).
type sumdbSource interface {
	Name() string
	Meta() bundle.Meta
	Extras() []bundle.Extra
	ReadExtra(ctx context.Context, kind, name string) ([]byte, error)
}

// SumDBStats describes a checksum database served from the loaded bundles.
type SumDBStats struct {
	Name string
	Key  string // verifier key, the GOSUMDB value of clients
	Tree int64  // newest tree size served
	// Records is the number of module versions with a record; Behind of
	// them are answered with an older tree, Unproven with none proven.
	Records, Behind, Unproven int
	Tiles                     int
	// Consistent lists older tree sizes that clients may hold and that
	// the loaded tiles prove consistent with Tree; Inconsistent those
	// that they cannot (such clients fail with "checking tree#N").
	Consistent   []int64
	Inconsistent []int64
}

// UntrustedError reports checksum database data whose database has no
// trusted key: it is not served.
type UntrustedError struct{ Name string }

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("no trusted key for checksum database %s (the bundle's own key is not trusted): pass --sumdb %s+<key>", e.Name, e.Name)
}

// sumdbStore returns the checksum database data of b, loaded once and
// checked with the trusted key of its database.
func (b *openBundle) sumdbStore(ctx context.Context, trusted map[string]string) (*sumdbstore.Store, error) {
	b.sdOnce.Do(func() {
		src, ok := b.src.(sumdbSource)
		if !ok {
			return
		}
		hasData := false
		for _, x := range src.Extras() {
			hasData = hasData || x.Kind == sumdbstore.Kind
		}
		if !hasData {
			return
		}
		name := sumdbstore.Property(src.Meta(), sumdbstore.PropName)
		if name == "" {
			name = sumdbstore.Property(src.Meta(), "sumdb") // bundles of earlier versions
		}
		if name == "" || trusted[name] == "" {
			b.sdErr = &UntrustedError{Name: name}
			return
		}
		b.sd, b.sdErr = sumdbstore.Load(ctx, src, map[string]string{name: trusted[name]})
	})
	return b.sd, b.sdErr
}

// loadSumDBs merges the checksum database data of the view's bundles.
func (v *view) loadSumDBs(ctx context.Context, trusted map[string]string, log *slog.Logger, refused *atomic.Uint64) error {
	byName := map[string][]*sumdbstore.Store{}
	origins := map[string][]string{}
	var names []string
	for _, b := range v.bundles {
		s, err := b.sumdbStore(ctx, trusted)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Its modules are still served; the go command then meets
			// 404s for its records, as from a bundle without such data.
			// Two bundles claiming one database with different keys end
			// here too: the one that does not verify with the trusted key.
			if !b.sdLogged.Swap(true) {
				refused.Add(1)
				log.Error("checksum database data of this bundle refused, not served", "bundle", b.name, "err", err)
			}
			continue
		}
		if s == nil {
			continue
		}
		if byName[s.Name] == nil {
			names = append(names, s.Name)
		}
		byName[s.Name] = append(byName[s.Name], s)
		origins[s.Name] = append(origins[s.Name], b.name)
	}
	if len(names) == 0 {
		return nil
	}
	v.sumdbs = make(map[string]*sumdbstore.Union, len(names))
	for _, name := range names {
		u, err := sumdbstore.NewUnion(byName[name], origins[name])
		if err != nil {
			return err
		}
		v.sumdbs[name] = u
		log.Info("checksum database loaded", "name", name, "tree", u.Newest.Tree.N, "records", u.Records,
			"tiles", u.Tiles(), "older_trees", u.Consistent)
		for _, t := range u.Inconsistent {
			log.Warn("checksum database: clients that saw this older tree will fail (\"checking tree#N\"): build the newer bundle with --sumdb-since (or --base) on the older one",
				"name", name, "tree", t.N, "bundle", t.Bundle, "newest", u.Newest.Tree.N)
		}
		if len(u.Unproven) > 0 {
			log.Warn("checksum database: records not proven in any loaded tree; clients will fail to verify them",
				"name", name, "records", u.Unproven)
		}
	}
	return nil
}

// sumdbStats describes the view's checksum databases, sorted by name.
func (v *view) sumdbStats() []SumDBStats {
	var out []SumDBStats
	for _, u := range v.sumdbs {
		st := SumDBStats{Name: u.Name, Key: u.Key, Tree: u.Newest.Tree.N, Records: u.Records, Behind: u.Behind,
			Unproven: len(u.Unproven), Tiles: u.Tiles(), Consistent: u.Consistent}
		for _, t := range u.Inconsistent {
			st.Inconsistent = append(st.Inconsistent, t.N)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b SumDBStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// serveSumdb answers /sumdb/<name>/{supported,latest,lookup/M@V,tile/...}
// from the view's checksum database data.
func (s *Server) serveSumdb(w *statusWriter, r *http.Request, v *view, p string) {
	rest := strings.TrimPrefix(p, "/sumdb/")
	var u *sumdbstore.Union
	var sub string
	for name, cand := range v.sumdbs {
		if after, ok := strings.CutPrefix(rest, name+"/"); ok {
			u, sub = cand, after
			break
		}
	}
	if u == nil {
		if name, mv, ok := strings.Cut(rest, "/lookup/"); ok && name != "" {
			s.recordLookupMiss(mv)
		}
		s.notFound(w, "not found: %s: the loaded bundles (%s) hold no checksum database data for it", p, v.names)
		return
	}
	switch {
	case sub == "supported":
		w.Header()["Cache-Control"] = s.listAgeHdr
		s.sendBytes(w, r, nil, "", s.hdr.text, s.listAgeHdr)
	case sub == "latest":
		s.sendBytes(w, r, u.Newest.Note, "", s.hdr.text, s.listAgeHdr)
	case strings.HasPrefix(sub, "lookup/"):
		ans, ok := u.Lookup(strings.TrimPrefix(sub, "lookup/"))
		if !ok {
			s.recordLookupMiss(strings.TrimPrefix(sub, "lookup/"))
			s.notFound(w, "not found: checksum database %s: no record of %s in the loaded bundles (%s)", u.Name, strings.TrimPrefix(sub, "lookup/"), v.names)
			return
		}
		s.sendBytes(w, r, ans, "", s.hdr.text, s.listAgeHdr)
	case strings.HasPrefix(sub, "tile/"):
		data, ok := u.Tile(sub)
		if !ok {
			s.notFound(w, "not found: checksum database %s: %s is not in the loaded bundles (%s)", u.Name, sub, v.names)
			return
		}
		s.sendBytes(w, r, data, "", s.hdr.octet, s.maxAgeHdr)
	default:
		s.notFound(w, "not found: %s is not a checksum database path (supported, latest, lookup/M@V, tile/H/L/N[.p/W])", p)
	}
}

// recordLookupMiss records a miss of the checksum database record of the
// escaped module@version mv.
func (s *Server) recordLookupMiss(mv string) {
	i := strings.LastIndexByte(mv, '@')
	if i < 0 {
		return
	}
	path, err1 := module.UnescapePath(mv[:i])
	ver, err2 := module.UnescapeVersion(mv[i+1:])
	if err1 == nil && err2 == nil {
		s.misses.record(kindSumdb, path, ver)
	}
}
