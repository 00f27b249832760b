package githost

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	for name, data := range files {
		f := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(f), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHost(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required (make test-deps installs it)")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"lib/1@v1.0.0/go.mod":           "module git.corp.example/lib\n",
		"lib/2@-main/go.mod":            "module git.corp.example/lib\n\ngo 1.21\n",
		"lib/3@nested%v1.0.0/n/go.mod":  "module git.corp.example/lib/n\n",
		"secret/1@v1.0.0/go.mod":        "module git.corp.example/secret\n",
		"secret/1@v1.0.0/sub/secret.go": "package sub\n",
	})
	s, err := Start("git.corp.example", dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.RequireAuth("secret", "alice:s3cret")
	proxy, _ := url.Parse(s.ProxyURL())
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}

	// The go-import answer, without credentials even for secret.
	for _, repo := range []string{"lib", "secret"} {
		resp, err := client.Get("http://git.corp.example/" + repo + "/sub?go-get=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `<meta name="go-import" content="git.corp.example/` + repo + ` git http://git.corp.example/` + repo + `.git">`
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s go-get: %s %s, want %s", repo, resp.Status, body, want)
		}
	}
	// Other hosts are not served.
	if resp, err := client.Get("http://elsewhere.example/lib?go-get=1"); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("other host: %v %v, want 403", resp, err)
	}

	// git reaches it by name through the proxy: tags and commits.
	lsRemote := func(u string) (string, error) {
		cmd := exec.CommandContext(context.Background(), "git", "ls-remote", u)
		cmd.Env = append(os.Environ(), "http_proxy="+s.ProxyURL(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := lsRemote("http://git.corp.example/lib.git")
	if err != nil {
		t.Fatalf("git ls-remote: %v: %s", err, out)
	}
	for _, ref := range []string{"refs/tags/v1.0.0", "refs/tags/nested/v1.0.0", "refs/heads/main"} {
		if !strings.Contains(out, ref) {
			t.Errorf("ls-remote lacks %s:\n%s", ref, out)
		}
	}
	if out, err := lsRemote("http://git.corp.example/secret.git"); err == nil {
		t.Errorf("ls-remote of secret without credentials succeeded:\n%s", out)
	}
	if out, err := lsRemote("http://alice:s3cret@git.corp.example/secret.git"); err != nil || !strings.Contains(out, "refs/tags/v1.0.0") {
		t.Errorf("ls-remote of secret with credentials: %v:\n%s", err, out)
	}
	if err := s.Retag(context.Background(), "lib", "v1.0.0", "go.mod", "module git.corp.example/evil\n"); err != nil {
		t.Fatal(err)
	}
	if out2, _ := lsRemote("http://git.corp.example/lib.git"); out2 == out {
		t.Error("Retag did not move the tag")
	}
	if len(s.Requests()) == 0 {
		t.Error("empty request log")
	}

	// With TLS: CONNECT through the proxy, a certificate for the name from
	// the test CA, https repository URLs in the go-import answer.
	ca, err := s.EnableTLS()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("CA PEM does not parse")
	}
	tlsClient := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := tlsClient.Get("https://git.corp.example/lib?go-get=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `git https://git.corp.example/lib.git"`; !strings.Contains(string(body), want) {
		t.Errorf("go-get over https: %s, want %s", body, want)
	}
	if _, err := (&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}).Get("https://git.corp.example/lib?go-get=1"); err == nil {
		t.Error("https without the test CA succeeded")
	}
	log := strings.Join(s.Requests(), "\n")
	if !strings.Contains(log, "CONNECT git.corp.example:443 ") || !strings.Contains(log, "GET https://git.corp.example /lib 200") {
		t.Errorf("request log lacks the tunnel:\n%s", log)
	}
}
