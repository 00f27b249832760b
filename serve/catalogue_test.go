package serve

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/tally"
)

// badRequest is one hostile request of the catalogue of issue 20, sent as
// raw bytes so that no client cleans it first, and the status and body
// start the answer must have.
type badRequest struct {
	name   string
	raw    string // request line and headers, without the final blank line
	status int
	body   string // the body's start; "" for none checked
}

func badRequests() []badRequest {
	long := "/" + strings.Repeat("a", 3000) + "/@v/list"
	huge := "X-Big: " + strings.Repeat("b", 200<<10)
	return []badRequest{
		{"traversal", "GET /../../../etc/passwd HTTP/1.1", 404, "not found: /../../../etc/passwd is not a GOPROXY protocol path"},
		{"traversal-in-module", "GET /example.com/a/@v/../../../../etc/passwd HTTP/1.1", 404, "not found: /example.com/a/@v/../../../../etc/passwd is not a GOPROXY protocol path"},
		{"traversal-encoded", "GET /example.com/a/@v/%2e%2e%2f%2e%2e%2fx.mod HTTP/1.1", 404, "not found: /example.com/a/@v/../../x.mod is not a GOPROXY protocol path"},
		{"encoded-slash-module", "GET /example.com%2Fa/@v/v1.0.0.mod HTTP/1.1", 200, "module example.com/a"},
		{"encoded-slash-version", "GET /example.com/a/@v/v1.0.0%2F..%2F..%2Fx.mod HTTP/1.1", 404, "not found: /example.com/a/@v/v1.0.0/../../x.mod is not a GOPROXY protocol path"},
		{"nul-in-module", "GET /example.com/a%00/@v/v1.0.0.mod HTTP/1.1", 400, "bad request: invalid escaped module path \"example.com/a\\x00\": malformed module path \"example.com/a\\x00\": invalid char '\\x00'"},
		{"nul-in-version", "GET /example.com/a/@v/v1.0.0%00.mod HTTP/1.1", 400, "bad request: example.com/a: "},
		{"bad-escape", "GET /example.com/a/@v/%zz.mod HTTP/1.1", 400, ""},
		{"uppercase-unescaped", "GET /Example.com/a/@v/list HTTP/1.1", 400, "bad request: "},
		{"over-long-path", "GET " + long + " HTTP/1.1", 400, "bad request: path longer than 2048 bytes"},
		{"huge-header", "GET /example.com/a/@v/list HTTP/1.1\r\n" + huge, 431, ""},
		{"method-post", "POST /example.com/a/@v/v1.0.0.mod HTTP/1.1\r\nContent-Length: 0", 405, "method POST not allowed: this GOPROXY is read-only (GET and HEAD only)"},
		{"method-put", "PUT /example.com/a/@v/v1.0.0.mod HTTP/1.1\r\nContent-Length: 0", 405, "method PUT not allowed"},
		{"method-delete", "DELETE /example.com/a/@v/v1.0.0.zip HTTP/1.1", 405, "method DELETE not allowed"},
		{"method-options-path", "OPTIONS /example.com/a/@v/list HTTP/1.1", 405, "method OPTIONS not allowed"},
		{"method-options-star", "OPTIONS * HTTP/1.1", 200, ""}, // net/http answers it itself, empty
		{"method-trace", "TRACE /example.com/a/@v/list HTTP/1.1", 405, "method TRACE not allowed"},
		{"method-connect", "CONNECT 127.0.0.1:22 HTTP/1.1", 405, "method CONNECT not allowed"},
		{"method-made-up", "BREW /example.com/a/@v/list HTTP/1.1", 405, "method BREW not allowed"},
		{"absolute-uri-other-host", "GET http://elsewhere.example/example.com/a/@v/list HTTP/1.1", 200, "v1.0.0"},
		{"not-protocol", "GET /example.com/a/@v/v1.0.0.exe HTTP/1.1", 404, "not found: /example.com/a/@v/v1.0.0.exe is not a GOPROXY protocol path"},
		{"unknown-module", "GET /example.com/zzz/@v/list HTTP/1.1", 404, "not found: module example.com/zzz is not in the loaded bundles (a.gobundle)"},
		{"unknown-version", "GET /example.com/a/@v/v9.0.0.info HTTP/1.1", 404, "not found: example.com/a@v9.0.0 is not in the loaded bundles (a.gobundle)"},
		{"sumdb-traversal", "GET /sumdb/../../etc/passwd HTTP/1.1", 404, "not found: /sumdb/../../etc/passwd: the loaded bundles (a.gobundle) hold no checksum database data for it"},
		{"sumdb-unknown", "GET /sumdb/x/lookup/a@v1 HTTP/1.1", 404, ""},
		{"multi-range", "GET /example.com/a/@v/v1.0.0.mod HTTP/1.1\r\nRange: bytes=0-0,1-1,2-2", 200, "module example.com/a"},
		{"http-0.9", "GET /example.com/a/@v/list", 400, ""},
		{"bad-version-line", "GET /example.com/a/@v/list HTTP/9.9", 505, ""},
		{"no-host", "GET /example.com/a/@v/list HTTP/1.1\r\nHost:", 200, "v1.0.0"},
		{"two-hosts", "GET /example.com/a/@v/list HTTP/1.1\r\nHost: a\r\nHost: b", 400, ""},
		{"bad-header-name", "GET /example.com/a/@v/list HTTP/1.1\r\nBad Header: x", 400, ""},
		// Transfer-Encoding wins over Content-Length (RFC 9112 6.3) and the
		// connection is closed after: nothing to smuggle.
		{"smuggle-cl-te", "GET /example.com/a/@v/list HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked", 200, "v1.0.0"},
	}
}

// TestCatalogueBadRequests: every hostile request gets a clean 4xx (or the
// honest file it amounts to), never a 5xx, a hang or a file outside the
// bundles, and serve stays healthy.
func TestCatalogueBadRequests(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a.gobundle")
	writeBundle(t, name, 0, testMod{path: "example.com/a", version: "v1.0.0", files: map[string]string{"go.mod": "module example.com/a\n"}})
	_, base := runServer(t, Options{Bundles: []string{name}})
	addr := strings.TrimPrefix(base, "http://")
	for _, c := range badRequests() {
		t.Run(c.name, func(t *testing.T) {
			raw := c.raw
			if !strings.Contains(raw, "\r\nHost:") && strings.HasSuffix(strings.SplitN(raw, "\r\n", 2)[0], "HTTP/1.1") {
				raw += "\r\nHost: " + addr
			}
			status, body := rawRequest(t, addr, raw+"\r\nConnection: close\r\n\r\n")
			tally.Add(t, tally.Inputs, 1)
			tally.Add(t, tally.Requests, 1)
			if status != c.status || !strings.HasPrefix(body, c.body) {
				t.Errorf("status %d, body %q; want %d and %q", status, trim(body), c.status, c.body)
				return
			}
			if status >= 400 {
				tally.Add(t, tally.Errors, 1)
			}
		})
	}
	resp, body := mustGet(t, "GET", base+"/healthz")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok: 1 bundle") {
		t.Errorf("after the catalogue: /healthz %d %q", resp.StatusCode, body)
	}
}

// rawRequest writes req on a new connection and reads the response.
func rawRequest(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
