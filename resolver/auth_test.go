package resolver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// authServer is a logging mirror on loopback: it answers every .mod
// request with a go.mod, records the Authorization header of each request,
// and, when want is set, answers 401 to requests without it.
type authServer struct {
	*httptest.Server
	want     string // required Authorization header ("" none)
	redirect string // when set, every request is redirected to this base URL

	mu  sync.Mutex
	log []string // "PATH AUTHORIZATION"
}

func newAuthServer(t *testing.T, tls bool) *authServer {
	s := &authServer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.log = append(s.log, r.URL.Path+" "+r.Header.Get("Authorization"))
		want, redirect := s.want, s.redirect
		s.mu.Unlock()
		switch {
		case redirect != "":
			http.Redirect(w, r, redirect+r.URL.Path, http.StatusFound)
		case want != "" && r.Header.Get("Authorization") != want:
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case strings.HasSuffix(r.URL.Path, ".mod"):
			mod, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/@v/")
			w.Write([]byte("module " + mod + "\n"))
		default:
			http.NotFound(w, r)
		}
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

// authorizations returns the Authorization headers the server received.
func (s *authServer) authorizations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.log {
		_, a, _ := strings.Cut(l, " ")
		out = append(out, a)
	}
	return out
}

func basic(user, pw string) string {
	r := http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

func writeNetrc(t *testing.T, content string) string {
	f := filepath.Join(t.TempDir(), ".netrc")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func fetchMod(m *Mirrors, version string) error {
	_, err := m.Fetch(context.Background(), "example.com/c", version, "mod")
	return err
}

// Credentials from .netrc go only to https: never to an http mirror of
// the same host:port, and a machine without a port does not match
// host:port.
func TestCredentialsNetrcTLSOnly(t *testing.T) {
	plain := newAuthServer(t, false)
	secure := newAuthServer(t, true)
	secure.want = basic("alice", "s3cret")
	plainHost := strings.TrimPrefix(plain.URL, "http://")
	secureHost := strings.TrimPrefix(secure.URL, "https://")
	netrc := writeNetrc(t, "machine "+plainHost+" login alice password s3cret\nmachine "+secureHost+" login alice password s3cret\n")

	m := ftMirrors(t, plain.URL, func(c *MirrorConfig) { c.Netrc = netrc })
	if err := fetchMod(m, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	if got := plain.authorizations(); len(got) != 1 || got[0] != "" {
		t.Errorf("http mirror received Authorization %q, want none", got)
	}

	m = ftMirrors(t, secure.URL, func(c *MirrorConfig) { c.Netrc = netrc; c.HTTPClient = secure.Client() })
	if err := fetchMod(m, "v1.0.0"); err != nil {
		t.Fatalf("https mirror with .netrc: %v", err)
	}

	// "machine 127.0.0.1" (no port) does not match 127.0.0.1:PORT.
	noPort := writeNetrc(t, "machine 127.0.0.1 login alice password s3cret\n")
	m = ftMirrors(t, secure.URL, func(c *MirrorConfig) { c.Netrc = noPort; c.HTTPClient = secure.Client() })
	if err := fetchMod(m, "v1.0.1"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("machine without port: %v, want 401", err)
	}
}

// User information in an http mirror URL is refused with the go command's
// message, before any request; over https it is sent, and never shown.
func TestCredentialsUserinfo(t *testing.T) {
	plain := newAuthServer(t, false)
	u := strings.Replace(plain.URL, "http://", "http://alice:s3cret@", 1)
	_, err := NewMirrors(MirrorConfig{Proxy: u, CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "refusing to pass credentials to insecure URL: http://alice:xxxxx@") {
		t.Errorf("NewMirrors(%s): %v, want the go command's refusal", plain.URL, err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
	if n := len(plain.authorizations()); n != 0 {
		t.Errorf("%d requests reached the http mirror", n)
	}
	// The same for a checksum database URL.
	m0 := ftMirrors(t, plain.URL)
	vkey, _ := ftSumDB(t, "sum.example", nil)
	if _, err := NewSumDB(SumDBConfig{GOSUMDB: vkey + " " + u, CacheDir: t.TempDir()}, m0); err == nil ||
		!strings.Contains(err.Error(), "refusing to pass credentials to insecure URL") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("NewSumDB with credentials in an http URL: %v, want the go command's refusal", err)
	}

	secure := newAuthServer(t, true)
	secure.want = basic("alice", "s3cret")
	su := strings.Replace(secure.URL, "https://", "https://alice:s3cret@", 1)
	m := ftMirrors(t, su, func(c *MirrorConfig) { c.HTTPClient = secure.Client() })
	if err := fetchMod(m, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	f, _ := m.Fetch(context.Background(), "example.com/c", "v1.0.0", "mod")
	if strings.Contains(f.Origin, "s3cret") || strings.Contains(strings.Join(m.Chain(), " "), "alice") {
		t.Errorf("origin %q or chain %q shows credentials", f.Origin, m.Chain())
	}
}

// A redirect from https to http is refused: neither the credentials nor
// the path reach the http server.
func TestCredentialsRedirectToHTTP(t *testing.T) {
	plain := newAuthServer(t, false)
	secure := newAuthServer(t, true)
	secure.redirect = plain.URL
	netrc := writeNetrc(t, "machine "+strings.TrimPrefix(secure.URL, "https://")+" login alice password s3cret\n"+
		"machine "+strings.TrimPrefix(plain.URL, "http://")+" login alice password s3cret\n")
	m := ftMirrors(t, secure.URL, func(c *MirrorConfig) { c.Netrc = netrc; c.HTTPClient = secure.Client() })
	err := fetchMod(m, "v1.0.0")
	if err == nil || !strings.Contains(err.Error(), "redirected from secure URL") {
		t.Errorf("fetch through https→http redirect: %v, want refusal", err)
	}
	if got := plain.authorizations(); len(got) != 0 {
		t.Errorf("http server received %d requests (%q) after a redirect", len(got), got)
	}
	if got := secure.authorizations(); len(got) == 0 || got[0] != basic("alice", "s3cret") {
		t.Errorf("https server received %q, want the .netrc credentials", got)
	}
}

// GOAUTH=off sends nothing, even with a matching .netrc; a GOAUTH
// command's credentials are used for https (after a 401 it is asked again
// with the URL); GOAUTH syntax errors are the go command's.
func TestCredentialsGOAUTH(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the GOAUTH command is a shell script")
	}
	secure := newAuthServer(t, true)
	secure.want = basic("carol", "t0ken")
	host := strings.TrimPrefix(secure.URL, "https://")
	netrc := writeNetrc(t, "machine "+host+" login carol password t0ken\n")

	m := ftMirrors(t, secure.URL, func(c *MirrorConfig) { c.GOAUTH = "off"; c.Netrc = netrc; c.HTTPClient = secure.Client() })
	if err := fetchMod(m, "v1.0.0"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("GOAUTH=off: %v, want 401", err)
	}
	for _, a := range secure.authorizations() {
		if a != "" {
			t.Errorf("GOAUTH=off sent Authorization %q", a)
		}
	}

	// The command prints credentials only when given a URL: the first
	// request fails, the retry carries them.
	dir := t.TempDir()
	script := filepath.Join(dir, "auth.sh")
	calls := filepath.Join(dir, "calls")
	body := "#!/bin/sh\necho \"$#\" >> " + calls + "\n[ $# -eq 1 ] || exit 0\nprintf 'https://" + host + "\\n\\nAuthorization: " + basic("carol", "t0ken") + "\\n\\n'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	secure.mu.Lock()
	secure.log = nil
	secure.mu.Unlock()
	m = ftMirrors(t, secure.URL, func(c *MirrorConfig) { c.GOAUTH = script; c.HTTPClient = secure.Client() })
	if err := fetchMod(m, "v1.0.0"); err != nil {
		t.Fatalf("GOAUTH command: %v", err)
	}
	if got := secure.authorizations(); len(got) != 2 || got[0] != "" || got[1] != basic("carol", "t0ken") {
		t.Errorf("requests carried %q, want none then the command's", got)
	}
	// Known now: the next request carries them at once.
	if err := fetchMod(m, "v1.0.1"); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(calls); string(data) != "0\n1\n" {
		t.Errorf("command calls (argument counts) %q, want one without and one with the URL", data)
	}

	// The command's credentials never go to http.
	plain := newAuthServer(t, false)
	pm := ftMirrors(t, plain.URL, func(c *MirrorConfig) { c.GOAUTH = script })
	fetchMod(pm, "v1.0.0")
	for _, a := range plain.authorizations() {
		if a != "" {
			t.Errorf("http mirror received Authorization %q from GOAUTH", a)
		}
	}

	for goauth, want := range map[string]string{
		"off;netrc":    "GOAUTH=off cannot be combined",
		"netrc;;":      "GOAUTH encountered an empty command",
		"git":          "GOAUTH=git dir method requires an absolute path",
		"git relative": "GOAUTH=git dir method requires an absolute path",
	} {
		_, err := NewMirrors(MirrorConfig{Proxy: secure.URL, CacheDir: t.TempDir(), GOAUTH: goauth})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("GOAUTH=%q: %v, want %q", goauth, err, want)
		}
	}
}

func TestParseUserAuth(t *testing.T) {
	got, err := parseUserAuth("https://a.example/x\nhttps://b.example\n\nAuthorization: Bearer T\nX-Other: 1\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["https://a.example/x"].Get("Authorization") != "Bearer T" || got["https://b.example"].Get("X-Other") != "1" {
		t.Errorf("parseUserAuth = %v", got)
	}
	for _, bad := range []string{"https://a.example\n", "https://a.example\n\nNoColon\n\n", "https://a.example\n\nA: b\n"} {
		if _, err := parseUserAuth(bad); err == nil {
			t.Errorf("parseUserAuth(%q) succeeded", bad)
		}
	}
}
