package resolver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// ftModule is one module version with its three proxy files.
type ftModule struct {
	path, version   string
	info, mod, zipf []byte
}

// ftMakeModule builds a small valid module version.
func ftMakeModule(t *testing.T, path, version string) ftModule {
	t.Helper()
	dir := t.TempDir()
	mod := []byte("module " + path + "\n\ngo 1.21\n")
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o666); err != nil {
		t.Fatal(err)
	}
	src := "package p\n\nconst V = " + fmt.Sprintf("%q", path+"@"+version) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o666); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	if err := modzip.CreateFromDir(&zb, module.Version{Path: path, Version: version}, dir); err != nil {
		t.Fatal(err)
	}
	info := []byte(fmt.Sprintf(`{"Version":%q,"Time":"2024-01-02T03:04:05Z"}`, version))
	return ftModule{path: path, version: version, info: info, mod: mod, zipf: zb.Bytes()}
}

// files returns the module's proxy files keyed by URL path (without leading slash).
func (m ftModule) files(t *testing.T) map[string][]byte {
	ep, err := module.EscapePath(m.path)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := module.EscapeVersion(m.version)
	if err != nil {
		t.Fatal(err)
	}
	p := ep + "/@v/" + ev
	return map[string][]byte{p + ".info": m.info, p + ".mod": m.mod, p + ".zip": m.zipf, ep + "/@v/list": []byte(m.version + "\n")}
}

// ftWriteTree writes mods as a GOPROXY file tree and returns its file:// URL.
func ftWriteTree(t *testing.T, mods ...ftModule) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range mods {
		for name, data := range m.files(t) {
			f := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(f), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, data, 0o666); err != nil {
				t.Fatal(err)
			}
		}
	}
	return "file://" + filepath.ToSlash(dir)
}

// ftServer is a fake module proxy with fault injection.
type ftServer struct {
	*httptest.Server
	t *testing.T

	mu     sync.Mutex
	files  map[string][]byte
	hits   map[string]int      // requests per path (without leading slash)
	faults map[string][]string // per path: faults for successive requests, then normal answers
	always string              // fault for every request, if set
	user   string              // required basic auth "user:password", if set
	sumdb  http.Handler        // serves "sumdb/" paths, if set
}

func ftNewServer(t *testing.T, mods ...ftModule) *ftServer {
	s := &ftServer{t: t, files: make(map[string][]byte), hits: make(map[string]int), faults: make(map[string][]string)}
	for _, m := range mods {
		s.add(m)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *ftServer) add(m ftModule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range m.files(s.t) {
		s.files[k] = v
	}
}

func (s *ftServer) setFaults(path string, faults ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = faults
}

func (s *ftServer) setAlways(fault string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = fault
}

func (s *ftServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *ftServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.hits {
		n += c
	}
	return n
}

func (s *ftServer) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	s.hits[p]++
	fault := s.always
	if f := s.faults[p]; len(f) > 0 {
		fault, s.faults[p] = f[0], f[1:]
	}
	data, ok := s.files[p]
	user := s.user
	s.mu.Unlock()
	if user != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user))
		if r.Header.Get("Authorization") != want {
			http.Error(w, "authorization required", http.StatusUnauthorized)
			return
		}
	}
	if s.sumdb != nil && strings.HasPrefix(p, "sumdb/") && fault == "" {
		s.sumdb.ServeHTTP(w, r)
		return
	}
	switch fault {
	case "":
	case "reset":
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			s.t.Error(err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST instead of FIN
		}
		conn.Close()
		return
	case "stall": // answer nothing until the client gives up
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case "truncate":
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:len(data)/2])
		return
	case "corrupt":
		data = append([]byte("PK\x03\x04garbage"), data[:len(data)/3]...)
	default:
		var code int
		fmt.Sscan(fault, &code)
		http.Error(w, fmt.Sprintf("fault %d for %s", code, p), code)
		return
	}
	if !ok {
		http.Error(w, "not found: "+p, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.Write(data)
}

// ftMirrors returns Mirrors over list with a fresh cache, fast retries and
// the given changes applied.
func ftMirrors(t *testing.T, list string, edit ...func(*MirrorConfig)) *Mirrors {
	t.Helper()
	cfg := MirrorConfig{Proxy: list, CacheDir: t.TempDir(), RetryBase: time.Millisecond, Seed: 1, Timeout: 10 * time.Second}
	for _, e := range edit {
		e(&cfg)
	}
	m, err := NewMirrors(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseProxyList(t *testing.T) {
	for _, tc := range []struct {
		list  string
		chain string // entries joined by " "
		err   string // substring of the error
	}{
		{list: "https://a.example,https://b.example|file:///x,direct", chain: "https://a.example https://b.example file:///x direct"},
		{list: "off", chain: "off"},
		{list: "direct,https://ignored.example", chain: "direct"},
		{list: "a.example/p, ,b.example", chain: "https://a.example/p https://b.example"},
		{list: "https://u:secret@a.example/p", chain: "https://a.example/p"},
		{list: "", err: "contains no entries"},
		{list: " , |", err: "contains no entries"},
		{list: "ftp://a.example", err: `entry "ftp://a.example": invalid proxy URL scheme`},
		{list: "https://a.example,ftp://u:secret@b.example", err: "invalid proxy URL scheme"},
		{list: "https://a.example,https://u:secret@b%zz", err: `entry "https://b%zz"`},
		{list: "http://", err: "no host"},
	} {
		m, err := NewMirrors(MirrorConfig{Proxy: tc.list, CacheDir: t.TempDir()})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NewMirrors(%q): error %v, want %q", tc.list, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("NewMirrors(%q): error shows the password: %v", tc.list, err)
			}
			var le *ProxyListError
			if err != nil && !errors.As(err, &le) {
				t.Errorf("NewMirrors(%q): error %T, want *ProxyListError", tc.list, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewMirrors(%q): %v", tc.list, err)
			continue
		}
		if got := strings.Join(m.Chain(), " "); got != tc.chain {
			t.Errorf("NewMirrors(%q).Chain() = %q, want %q", tc.list, got, tc.chain)
		}
	}
	specs, err := parseProxyList("https://a.example,https://b.example|https://c.example")
	if err != nil {
		t.Fatal(err)
	}
	if specs[0].fallBackOnError || !specs[1].fallBackOnError || specs[2].fallBackOnError {
		t.Errorf("fallBackOnError = %v %v %v, want false true false", specs[0].fallBackOnError, specs[1].fallBackOnError, specs[2].fallBackOnError)
	}
}

func TestFetchFallthrough(t *testing.T) {
	mod := ftMakeModule(t, "example.com/a", "v1.0.0")
	for _, tc := range []struct {
		status string
		sep    string
		ok     bool
	}{
		{"404", ",", true}, {"410", ",", true}, {"500", ",", false}, {"403", ",", false},
		{"404", "|", true}, {"410", "|", true}, {"500", "|", true}, {"403", "|", true},
	} {
		t.Run(tc.status+tc.sep, func(t *testing.T) {
			a := ftNewServer(t)
			a.setAlways(tc.status)
			b := ftNewServer(t, mod)
			m := ftMirrors(t, a.URL+tc.sep+b.URL)
			f, err := m.Fetch(context.Background(), mod.path, mod.version, "mod")
			if !tc.ok {
				if err == nil {
					t.Fatalf("Fetch succeeded (from %s), want failure", f.Origin)
				}
				if !strings.Contains(err.Error(), "example.com/a@v1.0.0") || !strings.Contains(err.Error(), a.URL) {
					t.Errorf("error %q does not name module and mirror", err)
				}
				if errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error %q matches fs.ErrNotExist", err)
				}
				if b.total() != 0 {
					t.Errorf("second mirror asked %d times, want 0", b.total())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Origin != b.URL {
				t.Errorf("Origin = %q, want %q", f.Origin, b.URL)
			}
			data, ok := m.cache.smallFile(f.SHA256)
			if f.File != "" || !ok || !bytes.Equal(data, mod.mod) {
				t.Errorf("cached file %q = %q; want %q in the small-file log", f.File, data, mod.mod)
			}
		})
	}
}

func TestFetchNotFound(t *testing.T) {
	a, b := ftNewServer(t), ftNewServer(t)
	b.setAlways("410")
	m := ftMirrors(t, a.URL+","+b.URL)
	_, err := m.Fetch(context.Background(), "example.com/missing", "v1.2.3", "info")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v does not match fs.ErrNotExist", err)
	}
	var me *module.ModuleError
	if !errors.As(err, &me) || me.Path != "example.com/missing" || me.Version != "v1.2.3" {
		t.Fatalf("error %#v is not a ModuleError for the module", err)
	}
	for _, want := range []string{a.URL + "/example.com/missing/@v/v1.2.3.info", b.URL + "/example.com/missing/@v/v1.2.3.info", "404", "410"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	for _, v := range []string{"latest", "v1.2", "master", ""} {
		if _, err := m.Fetch(context.Background(), "example.com/missing", v, "info"); err == nil || !strings.Contains(err.Error(), "canonical") {
			t.Errorf("Fetch(@%s) = %v, want a non-canonical version error", v, err)
		}
	}
	ok, err := m.Probe(context.Background(), "example.com/missing", "v1.2.3")
	if ok || err != nil {
		t.Errorf("Probe(missing) = %v, %v; want false, nil", ok, err)
	}
}

func TestProbe(t *testing.T) {
	mod := ftMakeModule(t, "example.com/a", "v1.0.0")
	s := ftNewServer(t, mod)
	m := ftMirrors(t, s.URL)
	if ok, err := m.Probe(context.Background(), "example.com/a", "v1.0.0"); !ok || err != nil {
		t.Errorf("Probe(existing) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := m.Probe(context.Background(), "example.com", "v1.0.0"); ok || err != nil {
		t.Errorf("Probe(prefix) = %v, %v; want false, nil", ok, err)
	}
	s.setAlways("500")
	if ok, err := m.Probe(context.Background(), "example.com/b", "v1.0.0"); ok || err == nil {
		t.Errorf("Probe on a failing mirror = %v, %v; want an error", ok, err)
	}
}

func TestFetchOff(t *testing.T) {
	m := ftMirrors(t, "off")
	_, err := m.Fetch(context.Background(), "example.com/a", "v1.0.0", "zip")
	if err == nil || !strings.Contains(err.Error(), "example.com/a@v1.0.0") || !strings.Contains(err.Error(), "GOPROXY=off") {
		t.Fatalf("Fetch with off: %v, want an error naming the module and GOPROXY=off", err)
	}
	// "A,off" is "A": not found stays not found.
	a := ftNewServer(t)
	m = ftMirrors(t, a.URL+",off")
	if _, err := m.Fetch(context.Background(), "example.com/a", "v1.0.0", "zip"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Fetch with A,off: %v, want not found", err)
	}
	// As with the go command, GOPRIVATE (GONOPROXY) modules are still
	// fetched directly under off.
	if testing.Short() {
		return
	}
	private := ftMakeModule(t, "example.com/a", "v1.0.0")
	tree := ftWriteTree(t, private)
	goCmd, env := ftGoEnv(t)
	m = ftMirrors(t, "off", func(c *MirrorConfig) {
		c.Private = "example.com"
		c.GoCmd, c.GoEnv, c.DirectProxy = goCmd, env, tree
	})
	f, err := m.Fetch(context.Background(), "example.com/a", "v1.0.0", "mod")
	if err != nil || f.Origin != "direct" {
		t.Fatalf("Fetch of a private module with off: %+v, %v; want it direct", f, err)
	}
	if _, err := m.Fetch(context.Background(), "example.com2/a", "v1.0.0", "mod"); err == nil || !strings.Contains(err.Error(), "GOPROXY=off") {
		t.Fatalf("Fetch of a public module with off: %v", err)
	}
}

func TestFetchRetries(t *testing.T) {
	mod := ftMakeModule(t, "example.com/r", "v1.0.0")
	zipPath := "example.com/r/@v/v1.0.0.zip"
	for _, faults := range [][]string{{"500", "502"}, {"reset"}, {"truncate", "truncate"}, {"503", "reset", "truncate", "429"}} {
		t.Run(strings.Join(faults, "+"), func(t *testing.T) {
			s := ftNewServer(t, mod)
			s.setFaults(zipPath, faults...)
			m := ftMirrors(t, s.URL)
			f, err := m.Fetch(context.Background(), mod.path, mod.version, "zip")
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(f.File)
			if err != nil || !bytes.Equal(data, mod.zipf) {
				t.Fatalf("cached zip differs from the served one (%v)", err)
			}
			// net/http itself may replay a request whose reused connection
			// was reset, so a reset is not always seen here.
			if got := m.Stats().Retries; got < 1 || got > int64(len(faults)) {
				t.Errorf("Stats().Retries = %d, want 1..%d", got, len(faults))
			}
			if got := s.count(zipPath); got < len(faults)+1 {
				t.Errorf("server saw %d requests, want at least %d", got, len(faults)+1)
			}
		})
	}
	t.Run("stall", func(t *testing.T) {
		s := ftNewServer(t, mod)
		s.setFaults(zipPath, "stall")
		m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.Timeout = 50 * time.Millisecond })
		if _, err := m.Fetch(context.Background(), mod.path, mod.version, "zip"); err != nil {
			t.Fatal(err)
		}
		if got := m.Stats().Retries; got != 1 {
			t.Errorf("Stats().Retries = %d, want 1", got)
		}
	})
	for _, fault := range []string{"500", "reset", "truncate", "stall"} {
		t.Run("always-"+fault, func(t *testing.T) {
			s := ftNewServer(t, mod)
			s.setAlways(fault)
			m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.Retries = 2; c.Timeout = 50 * time.Millisecond })
			_, err := m.Fetch(context.Background(), mod.path, mod.version, "zip")
			if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), s.URL+"/"+zipPath) {
				t.Fatalf("error %v, want a failure after 3 attempts naming the URL", err)
			}
			if _, ok := m.cache.get(context.Background(), mod.path, mod.version, "zip"); ok {
				t.Error("failed download left a cache entry")
			}
		})
	}
	for _, fault := range []string{"403", "404", "410"} {
		s := ftNewServer(t, mod)
		s.setAlways(fault)
		m := ftMirrors(t, s.URL)
		if _, err := m.Fetch(context.Background(), mod.path, mod.version, "zip"); err == nil {
			t.Fatalf("%s: Fetch succeeded", fault)
		}
		if got := s.count(zipPath); got != 1 {
			t.Errorf("%s: server saw %d requests, want 1 (no retry)", fault, got)
		}
	}
}

func TestFetchRetryHonoursContext(t *testing.T) {
	mod := ftMakeModule(t, "example.com/r", "v1.0.0")
	s := ftNewServer(t, mod)
	s.setAlways("500")
	m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.RetryBase = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for s.total() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := m.Fetch(ctx, mod.path, mod.version, "zip")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestFetchBadZip(t *testing.T) {
	mod := ftMakeModule(t, "example.com/z", "v1.0.0")
	bad := ftMakeModule(t, "example.com/other", "v1.0.0")
	s := ftNewServer(t, mod)
	// A valid zip of another module: CheckZip must refuse it.
	s.files["example.com/z/@v/v1.0.0.zip"] = bad.zipf
	m := ftMirrors(t, s.URL)
	_, err := m.Fetch(context.Background(), mod.path, mod.version, "zip")
	if err == nil || !strings.Contains(err.Error(), "invalid module zip") {
		t.Fatalf("Fetch of a wrong zip: %v", err)
	}
	if _, ok := m.cache.get(context.Background(), mod.path, mod.version, "zip"); ok {
		t.Error("invalid zip was cached")
	}
}

func TestFetchCache(t *testing.T) {
	mod := ftMakeModule(t, "example.com/Upper", "v1.0.0")
	s := ftNewServer(t, mod)
	cache := t.TempDir()
	var events []Event
	m := ftMirrors(t, s.URL, func(c *MirrorConfig) {
		c.CacheDir = cache
		c.Progress = func(e Event) { events = append(events, e) }
	})
	ctx := context.Background()
	zipPath := "example.com/!upper/@v/v1.0.0.zip"
	f1, err := m.Fetch(ctx, mod.path, mod.version, "zip")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Phase != "download" || events[0].Item != "example.com/Upper@v1.0.0 zip" || events[0].Bytes != int64(len(mod.zipf)) {
		t.Errorf("events = %+v, want one download event of %d bytes", events, len(mod.zipf))
	}
	f2, err := m.Fetch(ctx, mod.path, mod.version, "zip")
	if err != nil {
		t.Fatal(err)
	}
	if f1 != f2 {
		t.Errorf("second Fetch = %+v, want %+v", f2, f1)
	}
	if st := m.Stats(); st.CacheHits != 1 || st.Requests != 1 || st.Bytes != int64(len(mod.zipf)) {
		t.Errorf("Stats = %+v, want 1 request, 1 cache hit, %d bytes", st, len(mod.zipf))
	}
	// A second process (a new Mirrors) finds it too, with its origin.
	m2 := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.CacheDir = cache })
	f3, err := m2.Fetch(ctx, mod.path, mod.version, "zip")
	if err != nil || f3 != f1 || f3.Origin != s.URL {
		t.Errorf("Fetch from a warm cache = %+v, %v; want %+v", f3, err, f1)
	}
	if got := s.count(zipPath); got != 1 {
		t.Errorf("server saw %d requests, want 1", got)
	}
	// A corrupt blob is noticed and fetched again.
	if err := os.WriteFile(f1.File, []byte("corrupt"), 0o666); err != nil {
		t.Fatal(err)
	}
	m3 := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.CacheDir = cache })
	f4, err := m3.Fetch(ctx, mod.path, mod.version, "zip")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f4.File)
	if err != nil || !bytes.Equal(data, mod.zipf) {
		t.Errorf("re-fetched blob differs (%v)", err)
	}
	if got := s.count(zipPath); got != 2 {
		t.Errorf("server saw %d requests, want 2 (re-fetch of the corrupt blob)", got)
	}
	// Nothing is left in tmp.
	left, _ := os.ReadDir(filepath.Join(cache, "tmp"))
	if len(left) != 0 {
		t.Errorf("tmp holds %d files after successful fetches", len(left))
	}
}

func TestFetchParallel(t *testing.T) {
	var mods []ftModule
	for i := range 20 {
		mods = append(mods, ftMakeModule(t, fmt.Sprintf("example.com/m%d", i), "v1.0.0"))
	}
	var mu sync.Mutex
	inFlight, peak := 0, 0
	s := ftNewServer(t, mods...)
	inner := s.Config.Handler
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		inner.ServeHTTP(w, r)
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	m := ftMirrors(t, s.URL, func(c *MirrorConfig) { c.Jobs = 3 })
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(mods))
	for _, mod := range mods {
		for range 2 { // the same file twice: one request
			wg.Go(func() {
				_, err := m.Fetch(context.Background(), mod.path, mod.version, "zip")
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if peak > 3 {
		t.Errorf("peak parallel requests = %d, want at most Jobs=3", peak)
	}
	if n := s.total(); n != len(mods) {
		t.Errorf("server saw %d requests, want %d (one per file)", n, len(mods))
	}
}

func TestFetchFileProxy(t *testing.T) {
	mod := ftMakeModule(t, "example.com/f", "v1.0.0+incompatible")
	tree := ftWriteTree(t, mod)
	empty := ftWriteTree(t)
	m := ftMirrors(t, empty+","+tree)
	f, err := m.Fetch(context.Background(), mod.path, mod.version, "info")
	if err != nil {
		t.Fatal(err)
	}
	if f.Origin != tree {
		t.Errorf("Origin = %q, want %q", f.Origin, tree)
	}
	data, _, err := m.ReadFile(context.Background(), mod.path, mod.version, "mod")
	if err != nil || !bytes.Equal(data, mod.mod) {
		t.Errorf("ReadFile(mod) = %q, %v", data, err)
	}
}

func TestParseNetrc(t *testing.T) {
	got := parseNetrc(`machine a.example login u1 password p1
macdef init
  machine ignored.example login x password y

machine b.example:8080
	login u2
	password p2
default login d password d
machine after.example login u3 password p3
`)
	want := []netrcEntry{{"a.example", "u1", "p1"}, {"b.example:8080", "u2", "p2"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseNetrc = %v, want %v", got, want)
	}
}

func TestFetchSharedBlob(t *testing.T) {
	// Two modules whose .info files are byte for byte the same share a blob.
	a, b := ftMakeModule(t, "example.com/a", "v1.0.0"), ftMakeModule(t, "example.com/b", "v1.0.0")
	s := ftNewServer(t, a, b)
	m := ftMirrors(t, s.URL)
	fa, err := m.Fetch(context.Background(), a.path, a.version, "info")
	if err != nil {
		t.Fatal(err)
	}
	fb, err := m.Fetch(context.Background(), b.path, b.version, "info")
	if err != nil {
		t.Fatal(err)
	}
	if fa.File != fb.File || fa.SHA256 != fb.SHA256 {
		t.Errorf("identical files stored apart: %+v, %+v", fa, fb)
	}
	if _, ok := m.cache.get(context.Background(), a.path, a.version, "info"); !ok {
		t.Error("first key lost after the second was stored")
	}
}
