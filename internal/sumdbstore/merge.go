package sumdbstore

import (
	"fmt"
	"slices"
	"strings"
)

// Merge merges the stores of one database, from the bundles origins names,
// into the data of one self-contained bundle (gobundle merge, and the
// checks and unpacking of a chain of incremental bundles): the newest tree
// head as latest, the others as older trees, every record and every tile.
// Every record must be proven in the newest tree and every older tree
// consistent with it by the merged tiles, as in a bundle create writes;
// otherwise the error names a record or tree and the bundle it came from.
func Merge(stores []*Store, origins []string) (*Store, error) {
	u, err := NewUnion(stores, origins)
	if err != nil {
		return nil, err
	}
	if len(u.Inconsistent) > 0 {
		t := u.Inconsistent[0]
		return nil, fmt.Errorf("checksum database %s: tree %d of %s is not proven consistent with tree %d by the merged tiles: make the newer bundle with --sumdb-since on the older one", u.Name, t.N, t.Bundle, u.Newest.Tree.N)
	}
	if len(u.Unproven) > 0 {
		return nil, fmt.Errorf("checksum database %s: the record of %s is not proven in any tree by the merged tiles", u.Name, u.Unproven[0])
	}
	s := &Store{Name: u.Name, Key: u.Key, Latest: u.Newest, Older: slices.Clone(u.older), Tiles: u.tiles}
	slices.SortFunc(s.Older, func(a, b Head) int { return cmpInt(a.Tree.N, b.Tree.N) })
	for _, a := range u.answers {
		if a.head.Tree != u.Newest.Tree {
			return nil, fmt.Errorf("checksum database %s: the record of %s@%s is not proven in the newest tree %d by the merged tiles: make the newer bundle with --sumdb-since on the older one", u.Name, a.rec.Path, a.rec.Version, u.Newest.Tree.N)
		}
		s.Records = append(s.Records, *a.rec)
	}
	slices.SortFunc(s.Records, func(a, b Record) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return s, nil
}

// Data returns s as the data a bundle writer stores.
func (s *Store) Data() *Data {
	d := &Data{Name: s.Name, Key: s.Key, Latest: s.Latest, Older: s.Older, Records: s.Records, Tiles: s.Tiles}
	d.Stats = Stats{Records: len(s.Records), Tiles: s.Tiles.Len(), Tree: s.Latest.Tree.N}
	for _, h := range s.Older {
		d.Stats.Older = append(d.Stats.Older, h.Tree.N)
	}
	return d
}
