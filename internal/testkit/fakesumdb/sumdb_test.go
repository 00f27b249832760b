package fakesumdb

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
	"golang.org/x/mod/sumdb"
)

// clientOps is an in-memory sumdb.ClientOps reading over HTTP from base.
type clientOps struct {
	base string
	key  string

	mu       sync.Mutex
	config   map[string][]byte
	cache    map[string][]byte
	security []string
}

func newClient(base, vkey string) (*sumdb.Client, *clientOps) {
	ops := &clientOps{base: base, key: vkey, config: map[string][]byte{}, cache: map[string][]byte{}}
	return sumdb.NewClient(ops), ops
}

func (o *clientOps) ReadRemote(path string) ([]byte, error) {
	resp, err := http.Get(o.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, data)
	}
	return data, err
}

func (o *clientOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.config[file], nil
}

func (o *clientOps) WriteConfig(file string, old, new []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if string(o.config[file]) != string(old) {
		return sumdb.ErrWriteConflict
	}
	o.config[file] = new
	return nil
}

func (o *clientOps) ReadCache(file string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d, ok := o.cache[file]; ok {
		return d, nil
	}
	return nil, errors.New("not cached")
}

func (o *clientOps) WriteCache(file string, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cache[file] = data
}

func (o *clientOps) Log(string) {}

func (o *clientOps) SecurityError(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.security = append(o.security, msg)
}

func TestLookupDirectAndThroughProxy(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	db, err := Start(set, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Name() != strings.TrimPrefix(db.URL(), "http://") || !strings.HasPrefix(db.VerifierKey(), db.Name()+"+") {
		t.Errorf("name %q, url %q, key %q", db.Name(), db.URL(), db.VerifierKey())
	}
	if db.Size() != int64(set.Len()) {
		t.Errorf("size %d, want %d", db.Size(), set.Len())
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	up.MountSumDB(db.Name(), db.Handler())

	for _, base := range []string{db.URL(), up.URL + "/sumdb/" + db.Name()} {
		c, ops := newClient(base, db.VerifierKey())
		for _, m := range set.Modules() {
			lines, err := c.Lookup(m.Path, m.Version)
			if err != nil {
				t.Fatalf("%s: lookup %s: %v", base, m, err)
			}
			modLines, err := c.Lookup(m.Path, m.Version+"/go.mod")
			if err != nil {
				t.Fatalf("%s: lookup %s/go.mod: %v", base, m, err)
			}
			want, _ := m.GoSumLines()
			if got := strings.Join(append(lines, modLines...), "\n") + "\n"; got != want {
				t.Errorf("%s: lookup %s = %q, want %q", base, m, got, want)
			}
		}
		if _, err := c.Lookup("example.com/nothere", "v1.0.0"); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("unknown module: %v", err)
		}
		if len(ops.security) > 0 {
			t.Errorf("security errors: %v", ops.security)
		}
	}
	direct := strings.Join(db.Requests(), "\n")
	if !strings.Contains(direct, "/lookup/example.com/a@v1.0.0") || !strings.Contains(direct, "/tile/8/0/000") {
		t.Errorf("direct log: %s", direct)
	}
	if up.Count("/sumdb/*/lookup/*") == 0 || up.Count("/sumdb/*/tile/*") == 0 {
		t.Errorf("proxy log: %v", up.Requests())
	}
}

func TestLies(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	db, err := Start(set, Options{Lies: []string{"example.com/a@v1.0.0", "example.com/b@v1.0.0/go.mod"}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, _ := newClient(db.URL(), db.VerifierKey())
	for _, tc := range []struct {
		path, vers string
		zipLie     bool
		modLie     bool
	}{
		{"example.com/a", "v1.0.0", true, false},
		{"example.com/b", "v1.0.0", false, true},
		{"example.com/c", "v1.0.0", false, false},
	} {
		m, _ := set.Lookup(tc.path, tc.vers)
		zh, _ := m.ZipHash()
		mh, _ := m.ModHash()
		zipLines, err := c.Lookup(tc.path, tc.vers)
		if err != nil {
			t.Fatal(err)
		}
		modLines, err := c.Lookup(tc.path, tc.vers+"/go.mod")
		if err != nil {
			t.Fatal(err)
		}
		lines := append(zipLines, modLines...)
		if got := strings.HasSuffix(lines[0], zh); got == tc.zipLie {
			t.Errorf("%s@%s: zip line %q, lie %v", tc.path, tc.vers, lines[0], tc.zipLie)
		}
		if got := strings.HasSuffix(lines[1], mh); got == tc.modLie {
			t.Errorf("%s@%s: go.mod line %q, lie %v", tc.path, tc.vers, lines[1], tc.modLie)
		}
	}
	if err := ParseLie("example.com/a"); err == nil {
		t.Error("ParseLie accepted a path without version")
	}
}

// TestLazyGrowth checks that a lazy database grows on lookups and that a
// client that saw a smaller tree accepts the larger one (consistency
// proofs are served).
func TestLazyGrowth(t *testing.T) {
	set := fixtures.Generate(fixtures.GenOptions{Modules: 30, Versions: 3, Seed: 3})
	db, err := Start(set, Options{Name: "lazy.test", Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Size() != 0 {
		t.Fatalf("lazy db starts with %d records", db.Size())
	}
	c, ops := newClient(db.URL(), db.VerifierKey())
	for i, m := range set.Modules() {
		if _, err := c.Lookup(m.Path, m.Version); err != nil {
			t.Fatalf("lookup %d %s: %v", i, m, err)
		}
	}
	if db.Size() != 90 || len(ops.security) > 0 {
		t.Errorf("size %d, security %v", db.Size(), ops.security)
	}
}
