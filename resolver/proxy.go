package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
)

// proxySpec is one entry of a GOPROXY list.
type proxySpec struct {
	raw             string   // as given, for Chain (credentials removed)
	url             *url.URL // nil for "direct" and "off"
	word            string   // "direct", "off" or ""
	fallBackOnError bool     // the entry was followed by "|"
}

func (p proxySpec) String() string {
	if p.word != "" {
		return p.word
	}
	return redact(p.url)
}

// ProxyListError reports an unusable GOPROXY list, naming the entry.
type ProxyListError struct {
	List  string // the list, credentials removed
	Entry string // the offending entry, credentials removed ("" if the list is empty)
	Err   error
}

func (e *ProxyListError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("GOPROXY list %q: %v", e.List, e.Err)
	}
	return fmt.Sprintf("GOPROXY list %q: entry %q: %v", e.List, e.Entry, e.Err)
}

func (e *ProxyListError) Unwrap() error { return e.Err }

// parseProxyList parses a GOPROXY value with the go command's rules:
// entries are separated by "," (fall through on 404/410 only) or "|" (fall
// through on any error); "direct" and "off" end the list; an entry with a
// dot, colon or slash but no "://" and not an absolute path gets "https://";
// only http, https and file URLs are allowed.
func parseProxyList(list string) ([]proxySpec, error) {
	var specs []proxySpec
	rest := list
	for rest != "" {
		var entry string
		fallBack := false
		if i := strings.IndexAny(rest, ",|"); i >= 0 {
			entry, fallBack, rest = rest[:i], rest[i] == '|', rest[i+1:]
		} else {
			entry, rest = rest, ""
		}
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if entry == "off" || entry == "direct" {
			specs = append(specs, proxySpec{raw: entry, word: entry})
			break
		}
		raw := entry
		if strings.ContainsAny(entry, ".:/") && !strings.Contains(entry, ":/") && !filepath.IsAbs(entry) && !path.IsAbs(entry) {
			entry = "https://" + entry
		}
		u, err := url.Parse(entry)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // its text would repeat the entry with credentials
			}
			return nil, &ProxyListError{List: redactList(list), Entry: redactEntry(raw), Err: err}
		}
		switch u.Scheme {
		case "http", "https", "file":
		default:
			return nil, &ProxyListError{List: redactList(list), Entry: redact(u), Err: errors.New("invalid proxy URL scheme (must be https, http, file)")}
		}
		if u.User != nil && u.Scheme != "https" {
			return nil, &ProxyListError{List: redactList(list), Entry: redact(u), Err: insecureCredentialsError(u)}
		}
		// A file:// URL may hold nothing but a path, as the go command
		// requires (modfetch newProxyRepo): file://host/dir is refused.
		if u.Scheme == "file" && *u != (url.URL{Scheme: u.Scheme, Path: u.Path, RawPath: u.RawPath}) {
			return nil, &ProxyListError{List: redactList(list), Entry: redact(u), Err: errors.New("invalid file:// proxy URL with non-path elements")}
		}
		if u.Scheme != "file" && u.Host == "" {
			return nil, &ProxyListError{List: redactList(list), Entry: redact(u), Err: errors.New("proxy URL has no host")}
		}
		specs = append(specs, proxySpec{raw: redact(u), url: u, fallBackOnError: fallBack})
	}
	if len(specs) == 0 {
		return nil, &ProxyListError{List: redactList(list), Err: errors.New("contains no entries")}
	}
	return specs, nil
}

// redactEntry removes anything that looks like user information from an
// entry that did not parse as a URL.
func redactEntry(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + s[i+1:]
		}
		return s[i+1:]
	}
	return s
}

// redactList removes user information from every entry of a GOPROXY list.
func redactList(list string) string {
	var b strings.Builder
	start := 0
	for i := 0; i <= len(list); i++ {
		if i == len(list) || list[i] == ',' || list[i] == '|' {
			b.WriteString(redactEntry(list[start:i]))
			if i < len(list) {
				b.WriteByte(list[i])
			}
			start = i + 1
		}
	}
	return b.String()
}

// fileURL returns the proxy URL of module@version's file of the given kind.
func fileURL(base *url.URL, path, version, kind string) (*url.URL, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return nil, err
	}
	ev, err := module.EscapeVersion(version)
	if err != nil {
		return nil, err
	}
	return joinURL(base, ep+"/@v/"+ev+"."+kind), nil
}

// joinURL appends the slash-separated rel to base's path.
func joinURL(base *url.URL, rel string) *url.URL {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + rel
	u.RawPath = ""
	return &u
}

// localPath returns the file name of a file:// URL.
func localPath(u *url.URL) string {
	p := u.Path
	// file:///C:/dir has the path "/C:/dir".
	if len(p) >= 3 && p[0] == '/' && p[2] == ':' {
		p = p[1:]
	}
	if u.Host != "" && u.Host != "localhost" {
		p = "//" + u.Host + p // UNC
	}
	return filepath.FromSlash(p)
}

// readFileURL copies a file:// URL's file to consume; a missing file is a
// not-found error, as for a 404.
func readFileURL(ctx context.Context, target *url.URL, consume func(io.Reader, int64) error) error {
	name := localPath(target)
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &statusError{URL: redact(target), Status: "file does not exist", Code: 404}
		}
		return fmt.Errorf("reading %s: %w", redact(target), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", redact(target), err)
	}
	if st.IsDir() {
		return &statusError{URL: redact(target), Status: "is a directory", Code: 404}
	}
	return consume(ctxReader{ctx, f}, st.Size())
}
