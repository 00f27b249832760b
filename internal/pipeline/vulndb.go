package pipeline

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/vulndb"
	"github.com/gobundle/gobundle/resolver"
)

// fetchVulnDB is the vulndb stage: with Options.VulnDB, it fetches the
// module zip of golang.org/x/vulndb (Options.VulnDBVersion, else the
// newest version the mirrors list), checks it against the checksum
// database like any module zip, builds the database from its OSV entries
// and hands it to the write stage as extras, with the property naming the
// version.
func (j *job) fetchVulnDB(ctx context.Context) error {
	if !j.opts.VulnDB {
		return nil
	}
	j.emit(Event{Stage: "vulndb", Item: vulndb.ModulePath})
	db, origin, err := fetchVulnDB(ctx, j.mirrors, j.sumdb, j.opts.VulnDBVersion)
	j.emit(Event{Stage: "vulndb", End: true})
	if err != nil {
		return fmt.Errorf("create: --vulndb: %w", err)
	}
	if j.sumdb == nil {
		j.emit(Event{Stage: "warning", Item: "--vulndb: " + db.Module.String() + " not checked: the checksum database is off"})
	}
	j.vulndb = &VulnDB{Module: db.Module.String(), Entries: db.Entries, Modified: db.Modified.UTC().Format("2006-01-02T15:04:05Z")}
	j.props = append(j.props, bundle.Property{Key: vulndb.PropModule, Value: db.Module.String()})
	j.extras = append(j.extras, extra{"vulndb", func(ctx context.Context, w *bundle.Writer) error {
		for _, x := range db.Extras(origin) {
			if err := w.AddExtra(ctx, x); err != nil {
				return err
			}
		}
		return nil
	}})
	return nil
}

// VulnDB is the vulnerability database bundled, in [Result].
type VulnDB struct {
	Module   string `json:"module"` // golang.org/x/vulndb@version
	Entries  int    `json:"entries"`
	Modified string `json:"modified"` // RFC 3339, UTC
}

// fetchVulnDB fetches and checks the database module at version ("" for
// the newest listed, pseudo-versions included, else @latest) and builds
// the database. It returns the mirror the zip came from.
func fetchVulnDB(ctx context.Context, m *resolver.Mirrors, sdb *resolver.SumDB, version string) (*vulndb.DB, string, error) {
	if version == "" {
		list, err := m.List(ctx, vulndb.ModulePath)
		if err != nil {
			return nil, "", err
		}
		if len(list) > 0 {
			version = slices.MaxFunc(list, semver.Compare)
		} else if version, err = m.Latest(ctx, vulndb.ModulePath); err != nil {
			return nil, "", err
		}
	}
	mv := module.Version{Path: vulndb.ModulePath, Version: version}
	f, err := m.Fetch(ctx, mv.Path, mv.Version, "zip")
	if err != nil {
		return nil, "", err
	}
	if sdb != nil {
		h, _, err := m.ZipHash(ctx, mv.Path, mv.Version, f)
		if err != nil {
			return nil, "", err
		}
		if err := sdb.Check(ctx, mv.Path, mv.Version, false, h); err != nil {
			return nil, "", err
		}
	}
	db, err := vulndb.FromZip(ctx, mv, f.File)
	if err != nil {
		return nil, "", err
	}
	return db, f.Origin, nil
}
