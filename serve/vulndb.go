package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gobundle/gobundle/internal/vulndb"
)

// # Vulnerability database
//
// Bundles made with create --vulndb carry the Go vulnerability database
// (internal/vulndb). The view serves the newest one of its bundles (by the
// database's modified time; the first bundle on a tie) under /vulndb/, as
// govulncheck -db http://HOST/vulndb reads it:
//
//	/vulndb/index/db.json[.gz]        /vulndb/index/modules.json[.gz]
//	/vulndb/index/vulns.json[.gz]     /vulndb/ID/<id>.json[.gz]
//
// ".gz" answers are the file gzipped, as application/gzip without a
// Content-Encoding (clients gunzip the body themselves). Every file is
// checked against the bundle's sha256 when read; the gzipped indexes are
// kept once made.

// vulnState is a bundle's vulnerability database, loaded once.
type vulnState struct {
	once   sync.Once
	db     *vulndb.Stored
	err    error
	logged bool

	gzMu sync.Mutex
	gz   map[string][]byte // gzipped index files
}

// vulnDB returns b's database (nil without one), loaded and checked once.
func (b *openBundle) vulnDB(ctx context.Context, log *slog.Logger) *vulndb.Stored {
	vs := &b.vuln
	vs.once.Do(func() {
		src, ok := b.src.(vulndb.Source)
		if !ok {
			return
		}
		vs.db, vs.err = vulndb.Load(ctx, src)
		if errors.Is(vs.err, vulndb.ErrNone) {
			vs.err = nil
			return
		}
		if vs.err != nil {
			log.Error("vulnerability database of this bundle refused, not served", "bundle", b.name, "err", vs.err)
			return
		}
		log.Info("vulnerability database loaded", "bundle", b.name, "module", vs.db.Module, "modified", vs.db.Modified, "entries", vs.db.Entries)
	})
	return vs.db
}

// pickVulnDB chooses the database the view serves.
func (v *view) pickVulnDB(ctx context.Context, log *slog.Logger) {
	for _, b := range v.bundles {
		db := b.vulnDB(ctx, log)
		if db == nil {
			continue
		}
		if v.vuln == nil || db.Modified.After(v.vuln.db.Modified) {
			v.vuln = &vulnPick{b: b, db: db}
		}
	}
}

// vulnPick is the database a view serves and its bundle.
type vulnPick struct {
	b  *openBundle
	db *vulndb.Stored
}

// serveVulndb answers /vulndb/<sub>.
func (s *Server) serveVulndb(w *statusWriter, r *http.Request, v *view, sub string) (abort bool) {
	if v.vuln == nil {
		s.notFound(w, "not found: /vulndb/%s: the loaded bundles (%s) carry no vulnerability database (create --vulndb adds one)", sub, v.names)
		return false
	}
	name, gz := strings.CutSuffix(sub, ".gz")
	if !strings.HasSuffix(name, ".json") || !v.vuln.db.Has(name) {
		s.notFound(w, "not found: /vulndb/%s is not in the vulnerability database of %s (index/db.json, index/modules.json, index/vulns.json, ID/<id>.json, each also .gz)", sub, v.vuln.b.name)
		return false
	}
	var body []byte
	var err error
	if gz {
		body, err = v.vuln.b.vuln.gzipped(r.Context(), v.vuln.db, name)
	} else {
		body, err = v.vuln.db.Read(r.Context(), name)
	}
	if err != nil {
		s.readError(w, "vulndb "+name+" in "+v.vuln.b.name, err)
		return false
	}
	ctype := s.hdr.json
	if gz {
		ctype = []string{"application/gzip"}
	}
	sum := sha256.Sum256(body)
	s.sendBytes(w, r, body, `"`+hex.EncodeToString(sum[:])+`"`, ctype, s.listAgeHdr)
	return false
}

// gzipped returns name gzipped; those of the indexes are kept.
func (vs *vulnState) gzipped(ctx context.Context, db *vulndb.Stored, name string) ([]byte, error) {
	index := strings.HasPrefix(name, "index/")
	if index {
		vs.gzMu.Lock()
		defer vs.gzMu.Unlock()
		if b, ok := vs.gz[name]; ok {
			return b, nil
		}
	}
	data, err := db.Read(ctx, name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if index {
		if vs.gz == nil {
			vs.gz = map[string][]byte{}
		}
		vs.gz[name] = buf.Bytes()
	}
	return buf.Bytes(), nil
}

// VulnDBStats describes the vulnerability database served.
type VulnDBStats struct {
	Bundle   string
	Module   string // golang.org/x/vulndb@version
	Modified time.Time
	Entries  int
}

func (v *view) vulnStats() *VulnDBStats {
	if v.vuln == nil {
		return nil
	}
	db := v.vuln.db
	return &VulnDBStats{Bundle: v.vuln.b.name, Module: db.Module, Modified: db.Modified, Entries: db.Entries}
}
