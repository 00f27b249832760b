//go:build unix

package main

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobundle/gobundle/bundle"
)

// writeTestBundle writes a bundle holding path@v1.0.0 whose zip has files
// of size random bytes each.
func writeTestBundle(t *testing.T, name, path string, files, size int) {
	t.Helper()
	ctx := context.Background()
	zname := filepath.Join(t.TempDir(), "m.zip")
	zf, err := os.Create(zname)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	add := func(name string, data []byte) {
		w, err := zw.Create(path + "@v1.0.0/" + name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("go.mod", []byte("module "+path+"\n"))
	for i := range files {
		data := make([]byte, size)
		rand.Read(data)
		add(fmt.Sprintf("f%d.bin", i), data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	w, err := bundle.NewWriter(bundle.WriterOptions{TempDir: t.TempDir(), FrameSize: 1 << 20, Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = w.AddModule(ctx, bundle.ModuleSource{
		Path: path, Version: "v1.0.0",
		Info:    []byte(`{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}`),
		Mod:     []byte("module " + path + "\n"),
		ZipFile: zname,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteFile(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// TestServeSIGHUPDuringDownload sends SIGHUP to a running `gobundle serve`
// while a large download is in flight, after removing the bundle it reads
// from and dropping a new one in the served directory: the download ends
// with every byte right, and the new bundle is served.
func TestServeSIGHUPDuringDownload(t *testing.T) {
	dir := t.TempDir()
	writeTestBundle(t, filepath.Join(dir, "a.gobundle"), "example.com/big", 8, 2<<20)
	newBundle := filepath.Join(t.TempDir(), "b.gobundle")
	writeTestBundle(t, newBundle, "example.com/new", 1, 100)

	srv := startServeDir(t, dir)
	proxy, stderr := srv.proxy, srv.stderr

	resp, err := http.Get(proxy + "/example.com/big/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("big zip: %s", resp.Status)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, resp.Body, 64<<10); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(dir, "a.gobundle")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(newBundle, filepath.Join(dir, "b.gobundle")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r, err := http.Get(proxy + "/example.com/new/@v/list")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("new bundle not served after SIGHUP; log:\n%s", stderr.String())
		}
	}

	// The download is still being answered (this request is the other one).
	r, err := http.Get(proxy + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(metrics), "gobundle_serve_requests_in_flight 2\n") {
		t.Fatalf("the download was not in flight at the reload:\n%s", metrics)
	}

	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("download across SIGHUP: %v", err)
	}
	if n+64<<10 != resp.ContentLength {
		t.Fatalf("download across SIGHUP: %d of %d bytes", n+64<<10, resp.ContentLength)
	}
	if got, want := `"`+hex.EncodeToString(h.Sum(nil))+`"`, resp.Header.Get("ETag"); got != want {
		t.Fatalf("download across SIGHUP: sha256 %s, ETag %s", got, want)
	}
	srv.stop(t)
	if !strings.Contains(stderr.String(), "SIGHUP: reloading bundles") || !strings.Contains(stderr.String(), "bundles reloaded") {
		t.Errorf("reload not logged:\n%s", stderr.String())
	}
}

// servedDir is `gobundle serve` of a directory, run in this process.
type servedDir struct {
	proxy  string      // its GOPROXY URL
	stderr *syncBuffer // its log
	cancel context.CancelFunc
	code   chan int
}

// startServeDir runs `gobundle serve --listen 127.0.0.1:0 --poll 0 dir` in
// the background (SIGHUP reloads it; nothing polls) and returns once it
// printed its GOPROXY= line. It is stopped when t ends, if not before.
func startServeDir(t *testing.T, dir string) *servedDir {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	outR, outW := io.Pipe()
	s := &servedDir{stderr: new(syncBuffer), cancel: cancel, code: make(chan int, 1)}
	go func() {
		s.code <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--poll", "0", dir}, outW, s.stderr, func(string) string { return "" })
		outW.Close()
	}()
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "GOPROXY="); ok {
			s.proxy = p
			break
		}
	}
	if s.proxy == "" {
		t.Fatalf("serve printed no GOPROXY= line; exit %d", <-s.code)
	}
	go io.Copy(io.Discard, outR)
	return s
}

// stop stops serve and fails t unless it exits 0.
func (s *servedDir) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	if c := <-s.code; c != 0 {
		t.Fatalf("serve exited %d; log:\n%s", c, s.stderr.String())
	}
}

// syncBuffer is a buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
