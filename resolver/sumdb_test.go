package resolver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
)

// ftHashes returns the go.sum hashes of a module's zip and go.mod.
func ftHashes(t *testing.T, m ftModule) (zipHash, modHash string) {
	t.Helper()
	zf := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(zf, m.zipf, 0o666); err != nil {
		t.Fatal(err)
	}
	zipHash, err := dirhash.HashZip(zf, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	modHash, err = dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(m.mod)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return zipHash, modHash
}

// ftSumDB returns a checksum database for name holding the given go.sum
// lines per "path version", and its verifier key.
func ftSumDB(t *testing.T, name string, lines map[string]string) (vkey string, h http.Handler) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	gosum := func(path, vers string) ([]byte, error) {
		if l, ok := lines[path+" "+vers]; ok {
			return []byte(l), nil
		}
		return nil, errors.New("module not found")
	}
	return vkey, sumdb.NewServer(sumdb.NewTestServer(skey, gosum))
}

// ftSumDBProxy serves the database under /sumdb/<name>/ of proxy s.
func ftSumDBProxy(s *ftServer, name string, db http.Handler) {
	prefix := "/sumdb/" + name
	s.sumdb = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix+"/supported" {
			return
		}
		http.StripPrefix(prefix, db).ServeHTTP(w, r)
	})
}

func ftLines(path, version, zipHash, modHash string) string {
	return path + " " + version + " " + zipHash + "\n" + path + " " + version + "/go.mod " + modHash + "\n"
}

func TestSumDBCheck(t *testing.T) {
	const name = "sum.test.example"
	good := ftMakeModule(t, "example.com/good", "v1.0.0")
	lied := ftMakeModule(t, "example.com/lied", "v1.1.0")
	goodZip, goodMod := ftHashes(t, good)
	liedZip, liedMod := ftHashes(t, lied)
	vkey, db := ftSumDB(t, name, map[string]string{
		"example.com/good v1.0.0": ftLines(good.path, good.version, goodZip, goodMod),
		// The database lies about this module's zip.
		"example.com/lied v1.1.0": ftLines(lied.path, lied.version, goodZip, liedMod),
	})
	s := ftNewServer(t, good, lied)
	ftSumDBProxy(s, name, db)
	m := ftMirrors(t, "file:///nonexistent|"+s.URL)
	cacheDir := t.TempDir()
	sdb, err := NewSumDB(SumDBConfig{GOSUMDB: vkey, CacheDir: cacheDir, NoSumDB: "example.com/private"}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	ctx := context.Background()

	if err := sdb.Check(ctx, good.path, good.version, false, goodZip); err != nil {
		t.Errorf("Check(good zip): %v", err)
	}
	if err := sdb.Check(ctx, good.path, good.version, true, goodMod); err != nil {
		t.Errorf("Check(good go.mod): %v", err)
	}
	if !strings.Contains(sdb.Source(), s.URL+"/sumdb/"+name) {
		t.Errorf("Source() = %q, want the proxy's sumdb URL", sdb.Source())
	}

	// A go.sum line that differs from the database.
	err = sdb.Check(ctx, good.path, good.version, false, liedZip)
	var se *SumDBError
	if !errors.As(err, &se) || se.Remote != goodZip || se.Local != liedZip {
		t.Fatalf("Check(wrong hash) = %v, want a SumDBError with both hashes", err)
	}
	// A lying database: the real zip's hash is refused.
	err = sdb.Check(ctx, lied.path, lied.version, false, liedZip)
	if err == nil {
		t.Fatal("Check against a lying record succeeded")
	}
	for _, want := range []string{"example.com/lied@v1.1.0", liedZip, goodZip, name, s.URL} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	t.Log(err)
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q spans lines", err)
	}

	// NoSumDB modules are skipped without asking.
	if err := sdb.Check(ctx, "example.com/private/x", "v1.0.0", false, "h1:whatever"); err != nil {
		t.Errorf("Check(private) = %v, want nil", err)
	}
	if n := s.count("sumdb/" + name + "/lookup/example.com/private/x@v1.0.0"); n != 0 {
		t.Errorf("private module looked up %d times", n)
	}
	// A module the database does not know.
	if err := sdb.Check(ctx, "example.com/unknown", "v1.0.0", false, "h1:x"); err == nil || !strings.Contains(err.Error(), "example.com/unknown@v1.0.0") {
		t.Errorf("Check(unknown) = %v, want an error naming it", err)
	}

	ftCheckRecorded(t, sdb, good, goodZip)
	ftCheckSecondClient(t, s, m, SumDBConfig{GOSUMDB: vkey, CacheDir: cacheDir}, name, good, goodZip)
}

// ftCheckRecorded checks that sdb, which has checked good and a second
// module, recorded their lookup answers and the tiles proving them.
func ftCheckRecorded(t *testing.T, sdb *SumDB, good ftModule, goodZip string) {
	t.Helper()
	ctx := context.Background()
	raw, err := sdb.Lookup(ctx, good.path, good.version)
	if err != nil || !bytes.Contains(raw, []byte(good.path+" "+good.version+" "+goodZip)) {
		t.Errorf("Lookup = %q, %v", raw, err)
	}
	lookups, tiles := sdb.RecordedLookups(), sdb.RecordedTiles()
	if _, ok := lookups["lookup/example.com/good@v1.0.0"]; !ok || len(lookups) != 2 {
		t.Errorf("recorded lookups = %v, want good and lied", ftKeys(lookups))
	}
	if len(tiles) == 0 {
		t.Error("no tiles recorded")
	}
	for k := range tiles {
		if !strings.HasPrefix(k, "tile/8/") {
			t.Errorf("recorded tile %q", k)
		}
	}
	if latest, err := sdb.Latest(); err != nil || !bytes.HasPrefix(latest, []byte("go.sum database tree")) {
		t.Errorf("Latest() = %q, %v", latest, err)
	}
}

// ftCheckSecondClient checks that a second client on the same state (cfg)
// reads good's lookup from its cache, and records it too.
func ftCheckSecondClient(t *testing.T, s *ftServer, m *Mirrors, cfg SumDBConfig, name string, good ftModule, goodZip string) {
	t.Helper()
	ctx := context.Background()
	before := s.count("sumdb/" + name + "/lookup/example.com/good@v1.0.0")
	sdb2, err := NewSumDB(cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb2.Close()
	if err := sdb2.Check(ctx, good.path, good.version, false, goodZip); err != nil {
		t.Errorf("Check from cache: %v", err)
	}
	if after := s.count("sumdb/" + name + "/lookup/example.com/good@v1.0.0"); after != before {
		t.Errorf("cached lookup asked the server again (%d → %d)", before, after)
	}
	if _, ok := sdb2.RecordedLookups()["lookup/example.com/good@v1.0.0"]; !ok {
		t.Error("lookup read from the cache was not recorded")
	}
}

// TestSumDBVerifiedMarkers checks that a second client on the same cache
// takes verified answers from their markers, still catches a wrong hash,
// and ignores a marker whose answer changed.
func TestSumDBVerifiedMarkers(t *testing.T) {
	const name = "sum.test.example"
	good := ftMakeModule(t, "example.com/good", "v1.0.0")
	goodZip, goodMod := ftHashes(t, good)
	vkey, db := ftSumDB(t, name, map[string]string{
		"example.com/good v1.0.0": ftLines(good.path, good.version, goodZip, goodMod),
	})
	s := ftNewServer(t, good)
	ftSumDBProxy(s, name, db)
	cacheDir := t.TempDir()
	ctx := context.Background()
	check := func(h string, isMod bool) (*SumDB, error) {
		sdb, err := NewSumDB(SumDBConfig{GOSUMDB: vkey, CacheDir: cacheDir}, ftMirrors(t, s.URL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sdb.Close() })
		return sdb, sdb.Check(ctx, good.path, good.version, isMod, h)
	}
	first, err := check(goodZip, false)
	if err != nil || first.ops.verifiedHits.Load() != 0 {
		t.Fatalf("first check: %v, %d marker hits; want nil, 0", err, first.ops.verifiedHits.Load())
	}
	for _, tc := range []struct {
		h     string
		isMod bool
	}{{goodZip, false}, {goodMod, true}} {
		sdb, err := check(tc.h, tc.isMod)
		if err != nil || sdb.ops.verifiedHits.Load() != 1 {
			t.Errorf("warm check of %s: %v, %d marker hits; want nil, 1", tc.h, err, sdb.ops.verifiedHits.Load())
		}
		if ans, err := sdb.Lookup(ctx, good.path, good.version); err != nil || !bytes.Contains(ans, []byte(goodZip)) {
			t.Errorf("warm Lookup: %q, %v; want the recorded answer", ans, err)
		}
	}
	var se *SumDBError
	if sdb, err := check(goodMod, false); !errors.As(err, &se) || se.Remote != goodZip || sdb.ops.verifiedHits.Load() != 1 {
		t.Errorf("warm check of a wrong hash: %v, want a SumDBError from the marker", err)
	}

	// A changed answer does not match its marker: the client checks it
	// (and refuses this one, whose record no longer parses).
	key, err := lookupKey(good.path, good.version)
	if err != nil {
		t.Fatal(err)
	}
	// The answer is cached as a line of lookups.log; a later line for the
	// same file replaces it.
	logFile := filepath.Join(cacheDir, "sumdb", "lookups.log")
	old, err := os.ReadFile(logFile)
	if err != nil || !bytes.Contains(old, []byte(`"f":"`+name+"/"+key+`"`)) {
		t.Fatalf("lookups.log = %q, %v; want the answer for %s", old, err, key)
	}
	first.ops.loadLookups()
	data := first.ops.lookupLog[name+"/"+key]
	line, err := json.Marshal(lookupLine{F: name + "/" + key, Data: append([]byte("x"), data...)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logFile, append(append(old, line...), '\n'), 0o666); err != nil {
		t.Fatal(err)
	}
	if sdb, err := check(goodZip, false); err == nil || sdb.ops.verifiedHits.Load() != 0 {
		t.Errorf("check with a changed cached answer: %v, %d marker hits; want the client's error, 0", err, sdb.ops.verifiedHits.Load())
	}
}

func TestSumDBWrongKey(t *testing.T) {
	const name = "sum.test.example"
	good := ftMakeModule(t, "example.com/good", "v1.0.0")
	goodZip, goodMod := ftHashes(t, good)
	_, db := ftSumDB(t, name, map[string]string{"example.com/good v1.0.0": ftLines(good.path, good.version, goodZip, goodMod)})
	otherKey, _ := ftSumDB(t, name, nil) // same name, different key
	s := ftNewServer(t)
	ftSumDBProxy(s, name, db)
	m := ftMirrors(t, s.URL)
	sdb, err := NewSumDB(SumDBConfig{GOSUMDB: otherKey, CacheDir: t.TempDir()}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	err = sdb.Check(context.Background(), good.path, good.version, false, goodZip)
	if err == nil || !strings.Contains(err.Error(), "example.com/good@v1.0.0") {
		t.Fatalf("Check with a database signed by another key = %v, want an error", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q spans lines", err)
	}
}

func TestSumDBAccess(t *testing.T) {
	const name = "sum.test.example"
	good := ftMakeModule(t, "example.com/good", "v1.0.0")
	goodZip, goodMod := ftHashes(t, good)
	lines := map[string]string{"example.com/good v1.0.0": ftLines(good.path, good.version, goodZip, goodMod)}
	ctx := context.Background()

	t.Run("explicit URL", func(t *testing.T) {
		vkey, db := ftSumDB(t, name, lines)
		dbs := httptest.NewServer(db)
		defer dbs.Close()
		proxy := ftNewServer(t) // no sumdb support
		sdb, err := NewSumDB(SumDBConfig{GOSUMDB: vkey + " " + dbs.URL, CacheDir: t.TempDir()}, ftMirrors(t, proxy.URL))
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		if err := sdb.Check(ctx, good.path, good.version, false, goodZip); err != nil {
			t.Fatal(err)
		}
		if proxy.total() != 0 {
			t.Errorf("proxy asked %d times despite an explicit database URL", proxy.total())
		}
	})

	t.Run("direct after 404", func(t *testing.T) {
		tls := httptest.NewTLSServer(nil)
		defer tls.Close()
		host := strings.TrimPrefix(tls.URL, "https://")
		vkey, db := ftSumDB(t, host, lines)
		tls.Config.Handler = db
		proxy := ftNewServer(t) // answers 404 to supported
		m := ftMirrors(t, proxy.URL+",direct", func(c *MirrorConfig) { c.HTTPClient = tls.Client() })
		sdb, err := NewSumDB(SumDBConfig{GOSUMDB: vkey, CacheDir: t.TempDir()}, m)
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		if err := sdb.Check(ctx, good.path, good.version, false, goodZip); err != nil {
			t.Fatal(err)
		}
		if n := proxy.count("sumdb/" + host + "/supported"); n != 1 {
			t.Errorf("proxy asked for supported %d times, want 1", n)
		}
	})

	for _, sep := range []string{",", "|"} {
		t.Run("500 then "+sep, func(t *testing.T) {
			vkey, db := ftSumDB(t, name, lines)
			bad := ftNewServer(t)
			bad.setAlways("500")
			okp := ftNewServer(t)
			ftSumDBProxy(okp, name, db)
			sdb, err := NewSumDB(SumDBConfig{GOSUMDB: vkey, CacheDir: t.TempDir()}, ftMirrors(t, bad.URL+sep+okp.URL, func(c *MirrorConfig) { c.Retries = -1 }))
			if err != nil {
				t.Fatal(err)
			}
			defer sdb.Close()
			err = sdb.Check(ctx, good.path, good.version, false, goodZip)
			if sep == "," && (err == nil || !strings.Contains(err.Error(), bad.URL)) {
				t.Errorf("Check = %v, want an error naming the failing proxy", err)
			}
			if sep == "|" && err != nil {
				t.Errorf("Check = %v, want success through the second proxy", err)
			}
		})
	}
}

func TestNewSumDB(t *testing.T) {
	m := ftMirrors(t, "off")
	if sdb, err := NewSumDB(SumDBConfig{GOSUMDB: "off", CacheDir: t.TempDir()}, m); sdb != nil || err != nil {
		t.Errorf("NewSumDB(off) = %v, %v; want nil, nil", sdb, err)
	}
	vkey, _ := ftSumDB(t, "sum.test.example", nil)
	for _, tc := range []struct{ gosumdb, err string }{
		{"sum.test.example", "names no public key"},
		{vkey + " https://a.example extra", "too many fields"},
		{"sum.test.example+00000000+bad", "invalid GOSUMDB"},
		{vkey + " ftp://a.example", "invalid GOSUMDB URL"},
		{"", "missing GOSUMDB"},
	} {
		_, err := NewSumDB(SumDBConfig{GOSUMDB: tc.gosumdb, CacheDir: t.TempDir()}, m)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("NewSumDB(%q) = %v, want %q", tc.gosumdb, err, tc.err)
		}
	}
}

func TestKnownSumDBKeys(t *testing.T) {
	vkey, _ := ftSumDB(t, "sum.test.example", nil)
	other, _ := ftSumDB(t, "other.example", nil)
	src := "var knownGOSUMDB = map[string]string{\n\t\"sum.test.example\": \"" + vkey + "\",\n\t\"mismatch.example\": \"" + other + "\",\n}\n"
	got := KnownSumDBKeys([]byte(src))
	if len(got) != 1 || got["sum.test.example"] != vkey {
		t.Errorf("KnownSumDBKeys = %v, want only sum.test.example", got)
	}
	// The toolchain's own table, when its source is installed.
	data, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "cmd", "go", "internal", "modfetch", "key.go"))
	if err != nil {
		t.Logf("toolchain source not available: %v", err)
		return
	}
	if len(KnownSumDBKeys(data)) == 0 {
		t.Error("no key found in the toolchain's knownGOSUMDB table")
	}
}

func ftKeys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
