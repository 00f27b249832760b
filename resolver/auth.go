package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// # Credentials
//
// Requests to mirrors carry credentials exactly as the go command's (its
// web and auth packages) do:
//
//   - only https URLs ever get credentials; a mirror URL with user
//     information over http is refused ("refusing to pass credentials to
//     insecure URL"), and a redirect from https to http is refused;
//   - GOAUTH (default "netrc") is a ";"-separated list of methods: "off"
//     (alone: no credentials at all), "netrc" (the .netrc file), "git DIR"
//     (`git credential fill` run in DIR, for the URL that failed) and any
//     other command, run with no argument first and with the URL after a
//     4xx answer, printing blocks of URL lines, an empty line, header lines
//     and an empty line;
//   - credentials belong to URL prefixes: "host[:port][/path]", matched
//     from the longest prefix of the request URL; so a .netrc machine
//     "host" does not match a URL with a port;
//   - a request answered with a 4xx is retried once when the GOAUTH
//     commands, given that URL, produce other credentials for it.
//
// Credentials are never part of an error, a log line or a recorded origin.

// credentials holds what the GOAUTH methods produced, by URL prefix.
type credentials struct {
	methods [][]string // GOAUTH split into commands and their words; nil for "off"
	netrc   string     // .netrc file for the "netrc" method

	initOnce sync.Once
	mu       sync.Mutex
	cache    map[string]http.Header // prefix (host[:port][/path]) → headers
	runMu    sync.Mutex             // serialises GOAUTH command runs for a URL
}

// newCredentials parses a GOAUTH value ("" means "netrc") with the go
// command's rules and messages.
func newCredentials(goauth, netrc string) (*credentials, error) {
	if strings.TrimSpace(goauth) == "" {
		goauth = "netrc"
	}
	c := &credentials{netrc: netrc, cache: map[string]http.Header{}}
	cmds := strings.Split(goauth, ";")
	for _, command := range cmds {
		words, err := splitQuoted(strings.TrimSpace(command))
		if err != nil {
			return nil, fmt.Errorf("cannot parse GOAUTH command %s: %v", command, err)
		}
		if len(words) == 0 {
			return nil, fmt.Errorf("GOAUTH encountered an empty command (GOAUTH=%s)", goauth)
		}
		switch words[0] {
		case "off":
			if len(cmds) != 1 {
				return nil, fmt.Errorf("GOAUTH=off cannot be combined with other authentication commands (GOAUTH=%s)", goauth)
			}
			return &credentials{cache: map[string]http.Header{}}, nil
		case "git":
			if len(words) != 2 || !filepath.IsAbs(words[1]) {
				return nil, errors.New("GOAUTH=git dir method requires an absolute path to the git working directory")
			}
			if st, err := os.Stat(words[1]); err != nil || !st.IsDir() {
				return nil, fmt.Errorf("GOAUTH=git dir method requires an absolute path to the git working directory, %s is not a directory", words[1])
			}
		}
		c.methods = append(c.methods, words)
	}
	return c, nil
}

// add sets the credentials known for req's URL on req; only https URLs get
// any. It reports whether it set some.
func (c *credentials) add(ctx context.Context, req *http.Request) bool {
	if req.URL.Scheme != "https" || c.methods == nil {
		return false
	}
	c.initOnce.Do(func() { c.run(ctx, "", nil) })
	h := c.lookup(req.URL)
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return h != nil
}

// refresh runs the GOAUTH methods again for a request to u that was
// answered res (a 4xx) after sending sent, and returns the credentials to
// retry with, or nil when there are none or they are the same.
func (c *credentials) refresh(ctx context.Context, u *url.URL, sent http.Header, res *http.Response) http.Header {
	if u.Scheme != "https" || !slices.ContainsFunc(c.methods, func(w []string) bool { return w[0] != "netrc" }) {
		return nil // netrc alone gives nothing new
	}
	c.runMu.Lock()
	c.run(ctx, u.String(), res)
	c.runMu.Unlock()
	h := c.lookup(u)
	if h == nil || h.Get("Authorization") == sent.Get("Authorization") && len(h) == 1 {
		return nil
	}
	return h
}

// lookup returns the headers of the longest prefix of u (without scheme,
// query and trailing slash) that has credentials.
func (c *credentials) lookup(u *url.URL) http.Header {
	p := strings.TrimSuffix(u.Host+u.EscapedPath(), "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if h, ok := c.cache[p]; ok {
			return h.Clone()
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return nil
		}
		p = p[:i]
	}
}

func (c *credentials) store(prefix string, h http.Header) {
	prefix = strings.TrimSuffix(strings.TrimPrefix(prefix, "https://"), "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(h) == 0 {
		delete(c.cache, prefix)
	} else {
		c.cache[prefix] = h
	}
}

// run runs every method for target ("" for the first run), in reverse
// order so that earlier methods win, as the go command does. Failures of a
// method leave its credentials out; they are never reported with the
// credentials themselves.
func (c *credentials) run(ctx context.Context, target string, res *http.Response) {
	for _, words := range slices.Backward(c.methods) {
		switch words[0] {
		case "netrc":
			entries, err := readNetrc(ctx, c.netrc)
			if err != nil {
				continue
			}
			for _, e := range slices.Backward(entries) {
				r := http.Request{Header: http.Header{}}
				r.SetBasicAuth(e.login, e.password)
				c.store(e.machine, r.Header)
			}
		case "git":
			if target == "" {
				continue // git credential cannot list what it knows
			}
			if prefix, h, err := gitCredential(ctx, words[1], target); err == nil {
				c.store(prefix, h)
			}
		default:
			creds, err := runAuthCommand(ctx, words, target, res)
			if err != nil {
				continue
			}
			for prefix, h := range creds {
				c.store(prefix, h)
			}
		}
	}
}

// runAuthCommand runs a GOAUTH command (with target as its argument unless
// empty; res's status line and headers on its standard input) and parses
// its output.
func runAuthCommand(ctx context.Context, words []string, target string, res *http.Response) (map[string]http.Header, error) {
	args := slices.Clone(words[1:])
	if target != "" {
		args = append(args, target)
	}
	cmd := exec.CommandContext(ctx, words[0], args...)
	if res != nil {
		var in bytes.Buffer
		in.WriteString(res.Proto + " " + res.Status + "\n")
		for k, v := range res.Header {
			in.WriteString(k + ": " + strings.Join(v, ", ") + "\n")
		}
		in.WriteString("\n")
		cmd.Stdin = &in
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("GOAUTH command %s: %w", words[0], err)
	}
	return parseUserAuth(string(out))
}

// parseUserAuth parses a GOAUTH command's output: blocks of URL lines, an
// empty line, header lines, an empty line.
func parseUserAuth(data string) (map[string]http.Header, error) {
	creds := map[string]http.Header{}
	for data != "" {
		var line string
		var ok bool
		var prefixes []string
		for {
			if line, data, ok = strings.Cut(data, "\n"); !ok {
				return nil, errors.New("invalid format: missing empty line after URLs")
			}
			if line == "" {
				break
			}
			u, err := url.ParseRequestURI(line)
			if err != nil {
				return nil, errors.New("invalid format: a URL line does not parse")
			}
			prefixes = append(prefixes, u.String())
		}
		h := http.Header{}
		for {
			if line, data, ok = strings.Cut(data, "\n"); !ok {
				return nil, errors.New("invalid format: missing empty line after headers")
			}
			if line == "" {
				break
			}
			name, value, ok := strings.Cut(line, ": ")
			value = strings.TrimSpace(value)
			if !ok || name == "" || strings.ContainsAny(name, " \t\r:") || strings.ContainsAny(value, "\r\n") {
				return nil, errors.New("invalid format: invalid header line")
			}
			h.Add(name, value)
		}
		for _, p := range prefixes {
			creds[p] = h.Clone()
		}
	}
	return creds, nil
}

// gitCredential asks `git credential fill`, run in dir, for target's
// credentials; it returns the URL prefix they are for.
func gitCredential(ctx context.Context, dir, target string) (string, http.Header, error) {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, "git", "credential", "fill")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("protocol=%s\nhost=%s\npath=%s\n\n", u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/")))
	out, err := cmd.Output()
	if err != nil {
		return "", nil, errors.New("git credential fill failed")
	}
	prefix := &url.URL{}
	var user, password string
	for line := range strings.SplitSeq(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "protocol":
			prefix.Scheme = v
		case "host":
			prefix.Host = v
		case "path":
			prefix.Path = v
		case "username":
			user = v
		case "password":
			password = v
		case "url":
			if pu, err := url.ParseRequestURI(v); err == nil {
				prefix = pu
			}
		}
	}
	p := prefix.String()
	if p == "" || user == "" || password == "" || !strings.HasPrefix(target, p) {
		return "", nil, errors.New("git credential fill gave no credential for the URL")
	}
	r := http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return p, r.Header, nil
}

// splitQuoted splits s into fields at spaces, allowing ” or "" around a
// field (no escapes), as the go command splits GOAUTH commands.
func splitQuoted(s string) ([]string, error) {
	var f []string
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return f, nil
		}
		if q := s[0]; q == '"' || q == '\'' {
			i := strings.IndexByte(s[1:], q)
			if i < 0 {
				return nil, fmt.Errorf("unterminated %c string", q)
			}
			f = append(f, s[1:1+i])
			s = s[2+i:]
			continue
		}
		i := strings.IndexAny(s, " \t\r\n")
		if i < 0 {
			i = len(s)
		}
		f = append(f, s[:i])
		s = s[i:]
	}
}

// checkRedirect refuses a redirect from https to http, as the go command
// does, so that no credential or private path follows it in cleartext.
func checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirected from secure URL %s to insecure URL %s", redact(via[len(via)-1].URL), redact(req.URL))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// insecureCredentialsError is the go command's refusal of user information
// in a URL that is not https.
func insecureCredentialsError(u *url.URL) error {
	return fmt.Errorf("refusing to pass credentials to insecure URL: %s", u.Redacted())
}
