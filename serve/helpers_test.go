package serve

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/gobundle/gobundle/bundle"
)

// testMod describes one module version to put in a test bundle.
type testMod struct {
	path, version string
	mod           string            // go.mod content; "" means "module PATH\n"
	files         map[string]string // zip content; nil means no zip
	noInfo        bool
	noMod         bool
}

func (m testMod) modData() []byte {
	if m.mod != "" {
		return []byte(m.mod)
	}
	return []byte("module " + m.path + "\n")
}

func (m testMod) infoData() []byte {
	return []byte(fmt.Sprintf(`{"Version":%q,"Time":"2024-01-02T03:04:05Z"}`, m.version))
}

// writeZip writes m's module zip into dir and returns its file name.
func writeZip(t testing.TB, dir string, m testMod) string {
	t.Helper()
	name := filepath.Join(dir, strings.ReplaceAll(m.path, "/", "_")+"@"+m.version+".zip")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(m.files)+1)
	for n := range m.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.Create(m.path + "@" + m.version + "/" + n)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, m.files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
	return name
}

// writeBundle writes a bundle holding mods to name.
func writeBundle(t testing.TB, name string, frameSize int, mods ...testMod) {
	t.Helper()
	writeBundleOn(t, name, frameSize, nil, mods...)
}

// writeBundleOn writes a bundle holding mods to name, incremental on bases
// if any.
func writeBundleOn(t testing.TB, name string, frameSize int, bases []*bundle.Reader, mods ...testMod) {
	t.Helper()
	ctx := context.Background()
	w, err := bundle.NewWriter(bundle.WriterOptions{
		Tool:      "serve test",
		TempDir:   t.TempDir(),
		FrameSize: frameSize,
		Level:     zstd.SpeedFastest,
		Bases:     bases,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	zdir := t.TempDir()
	for _, m := range mods {
		src := bundle.ModuleSource{Path: m.path, Version: m.version}
		if !m.noInfo {
			src.Info = m.infoData()
		}
		if !m.noMod {
			src.Mod = m.modData()
		}
		if m.files != nil {
			src.ZipFile = writeZip(t, zdir, m)
		}
		if err := w.AddModule(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// randomText returns n random bytes as a string; zstd stores them as they
// are, which lets tests find and damage them inside a bundle file.
func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return string(b)
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startServer serves opts over httptest and returns the server and its log.
func startServer(t testing.TB, opts Options) (*Server, *httptest.Server, *logBuffer) {
	t.Helper()
	logs := new(logBuffer)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	opts.AccessLog = true
	s, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts, logs
}

// get fetches url with optional headers ("Name: value") and returns the
// response with its body read.
func get(t testing.TB, method, url string, headers ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// mustGet is get that fails the test on a transport error.
func mustGet(t testing.TB, method, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := get(t, method, url, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, body
}

// zipHash returns the h1: hash of zip bytes.
func zipHash(t testing.TB, data []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "h.zip")
	if err := os.WriteFile(name, data, 0o666); err != nil {
		t.Fatal(err)
	}
	h, err := dirhash.HashZip(name, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// runServer runs a Server over opts on a listener of 127.0.0.1 with Run
// (polling, limits and timeouts included) until the test ends; it returns
// the server and its base URL.
func runServer(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, "http://" + ln.Addr().String()
}
