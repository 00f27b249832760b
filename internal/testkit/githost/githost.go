// Package githost is the test kit's private git host: `git http-backend`
// (smart HTTP) behind net/http/cgi on 127.0.0.1, serving bare repositories
// built from txtar fixtures, with the `?go-get=1` go-import answer a
// GitLab gives and optional HTTP basic auth per repository.
//
// # Reaching it under a private name
//
// The host answers as a forward HTTP proxy: set HTTP_PROXY and http_proxy
// to its URL ([Server.ProxyURL]) and the go command (its go-get lookup)
// and git (its fetches) both reach http://NAME/... with NAME the host's
// private name (default git.corp.example): no DNS, no /etc/hosts, no
// privileged port, and many scripts may run side by side. Loopback
// addresses are never proxied, so the fake upstream and checksum database
// stay reached directly. The go command refuses plain-http version control
// for hosts not in GOINSECURE, so scripts set GOINSECURE=NAME, or serve
// https with a test CA (see TLS), and GOVCS=private:git, GOPRIVATE=NAME. This is chosen over git's
// url.<base>.insteadOf, which rewrites only git's URLs and leaves the go
// command's go-get lookup for NAME unresolvable.
//
// # Fixtures
//
// A repository is a directory DIR/REPO (REPO is the first path element
// after the host name) of snapshot directories named N@REF: each is one
// commit, in the order of N, whose tree is exactly that directory's files.
// REF is a tag ("v1.0.0"; "%" stands for "/", as in "nested%v1.0.0") or,
// starting with "-", a commit without a tag ("2@-main" leaves a commit a
// pseudo-version names). Commits have fixed authors and dates (day N of
// 2024 at noon), so pseudo-versions and hashes are reproducible. In a
// script: files like repos/lib/1@v1.0.0/go.mod.
package githost

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a running git host.
type Server struct {
	Name string // the private host name it answers for
	root string // directory of the bare repositories (NAME.git)
	srv  *http.Server
	ln   net.Listener
	git  string // path of git

	mu        sync.Mutex
	tlsConfig *tls.Config       // set by EnableTLS
	auth      map[string]string // repository → "user:password"
	log       []string          // see Requests
}

// Start builds the repositories under dir (see Fixtures) into root and
// serves them as host name.
func Start(name, dir, root string) (*Server, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("githost: git not found (make test-deps installs it): %w", err)
	}
	s := &Server{Name: name, root: root, git: git, auth: map[string]string{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if err := s.build(e.Name(), filepath.Join(dir, e.Name())); err != nil {
			return nil, fmt.Errorf("githost: %s: %w", e.Name(), err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute}
	go s.srv.Serve(ln)
	return s, nil
}

// ProxyURL is the URL to set as HTTP_PROXY and http_proxy.
func (s *Server) ProxyURL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// RequireAuth makes repo answer 401 without basic auth user:password.
func (s *Server) RequireAuth(repo, userPassword string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth[repo] = userPassword
}

// Requests returns the log: "METHOD SCHEME://HOST PATH STATUS" lines
// ("CONNECT HOST:443 …" for tunnels).
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// Retag moves tag of repo to a new commit whose tree is the tag's with
// file set to content: a tampered repository.
func (s *Server) Retag(ctx context.Context, repo, tag, file, content string) error {
	work, err := os.MkdirTemp("", "githost-retag")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bare := filepath.Join(s.root, repo+".git")
	steps := [][]string{
		{"clone", "-q", bare, work},
		{"-C", work, "checkout", "-q", tag},
	}
	for _, st := range steps {
		if err := s.run(ctx, "", st...); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(work, filepath.FromSlash(file)), []byte(content), 0o666); err != nil {
		return err
	}
	for _, st := range [][]string{
		{"-C", work, "add", "-A"},
		{"-C", work, "commit", "-q", "-m", "moved " + tag},
		{"-C", work, "tag", "-f", tag},
		{"-C", work, "push", "-q", "-f", "origin", "refs/tags/" + tag},
	} {
		if err := s.run(ctx, "", st...); err != nil {
			return err
		}
	}
	return nil
}

// snapshot is one commit of a fixture repository.
type snapshot struct {
	n   int
	ref string
	dir string
}

// build makes root/REPO.git from the fixture directory src.
func (s *Server) build(repo, src string) error {
	ctx := context.Background()
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	var snaps []snapshot
	for _, e := range ents {
		ns, ref, ok := strings.Cut(e.Name(), "@")
		n, err := strconv.Atoi(ns)
		if !ok || err != nil || !e.IsDir() || ref == "" {
			return fmt.Errorf("%s: want directories N@REF", e.Name())
		}
		snaps = append(snaps, snapshot{n, strings.ReplaceAll(ref, "%", "/"), filepath.Join(src, e.Name())})
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].n < snaps[j].n })
	work, err := os.MkdirTemp("", "githost-build")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := s.run(ctx, "", "init", "-q", "-b", "main", work); err != nil {
		return err
	}
	for _, sn := range snaps {
		// A full snapshot: the work tree becomes exactly sn.dir.
		old, _ := os.ReadDir(work)
		for _, e := range old {
			if e.Name() != ".git" {
				os.RemoveAll(filepath.Join(work, e.Name()))
			}
		}
		if err := os.CopyFS(work, os.DirFS(sn.dir)); err != nil {
			return err
		}
		date := time.Date(2024, 1, sn.n, 12, 0, 0, 0, time.UTC).Format(time.RFC3339)
		if err := s.run(ctx, date, "-C", work, "add", "-A"); err != nil {
			return err
		}
		if err := s.run(ctx, date, "-C", work, "commit", "-q", "--allow-empty", "-m", sn.ref); err != nil {
			return err
		}
		if !strings.HasPrefix(sn.ref, "-") {
			if err := s.run(ctx, date, "-C", work, "tag", sn.ref); err != nil {
				return err
			}
		}
	}
	bare := filepath.Join(s.root, repo+".git")
	if err := s.run(ctx, "", "clone", "-q", "--bare", work, bare); err != nil {
		return err
	}
	return s.run(ctx, "", "-C", bare, "config", "http.receivepack", "false")
}

// run runs git with a fixed identity (and date, if given), ignoring the
// user's configuration.
func (s *Server) run(ctx context.Context, date string, args ...string) error {
	cmd := exec.CommandContext(ctx, s.git, args...)
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.com",
		"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.com")
	if date != "" {
		cmd.Env = append(cmd.Env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// ServeHTTP answers requests for http://NAME/REPO/...: the go-import meta
// tag for ?go-get=1, else git's smart HTTP protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	if r.Method == http.MethodConnect {
		// Logged as answered: the tunnel's requests are logged on their own.
		s.connect(w, r)
	} else {
		s.serve(rec, r)
	}
	s.mu.Lock()
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	if r.Method == http.MethodConnect {
		scheme = ""
	}
	s.log = append(s.log, fmt.Sprintf("%s %s%s %s %d", r.Method, scheme, r.Host, r.URL.Path, rec.code))
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host != s.Name {
		http.Error(w, "githost: only http://"+s.Name+"/ is served here", http.StatusForbidden)
		return
	}
	repo, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	repo = strings.TrimSuffix(repo, ".git")
	if repo == "" || strings.Contains(repo, "..") {
		http.NotFound(w, r)
		return
	}
	if _, err := os.Stat(filepath.Join(s.root, repo+".git")); err != nil {
		http.Error(w, "githost: no repository "+repo, http.StatusNotFound)
		return
	}
	if r.URL.Query().Get("go-get") == "1" {
		// As GitLab: the meta answer needs no credentials.
		// The repository URL has the scheme the question came in with.
		root := s.Name + "/" + repo
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		fmt.Fprintf(w, "<!DOCTYPE html><html><head><meta name=\"go-import\" content=\"%s git %s://%s.git\"></head><body></body></html>\n", root, scheme, root)
		return
	}
	s.mu.Lock()
	want := s.auth[repo]
	s.mu.Unlock()
	if want != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u+":"+p != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="githost"`)
			http.Error(w, "githost: authentication required", http.StatusUnauthorized)
			return
		}
	}
	// git http-backend wants the path below the project root.
	rest := strings.TrimPrefix(r.URL.Path, "/"+repo)
	rest = strings.TrimPrefix(rest, ".git")
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + repo + ".git" + rest
	h := &cgi.Handler{
		Path: filepath.Join(gitExecPath(s.git), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull},
	}
	h.ServeHTTP(w, r2)
}

var (
	execPathOnce sync.Once
	execPath     string
)

// gitExecPath returns `git --exec-path`, where git-http-backend lives.
func gitExecPath(git string) string {
	execPathOnce.Do(func() {
		out, err := exec.Command(git, "--exec-path").Output()
		if err == nil {
			execPath = strings.TrimSpace(string(out))
		}
		if execPath == "" {
			execPath = "/usr/lib/git-core"
		}
	})
	return execPath
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
