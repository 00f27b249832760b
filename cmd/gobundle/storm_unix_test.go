//go:build unix

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/tally"
)

// TestServeSIGHUPStorm: 8 clients download zips and go.mod files from
// `gobundle serve` without pause while it gets a SIGHUP every 10 ms for 3
// seconds and a second bundle comes and goes in its directory: not one
// request fails, and every body matches its ETag (the sha256 the bundle
// records).
func TestServeSIGHUPStorm(t *testing.T) {
	dir := t.TempDir()
	writeTestBundle(t, filepath.Join(dir, "a.gobundle"), "example.com/big", 4, 256<<10)
	spare := filepath.Join(t.TempDir(), "b.gobundle")
	writeTestBundle(t, spare, "example.com/other", 1, 1000)

	srv := startServeDir(t, dir)
	proxy, stderr := srv.proxy, srv.stderr

	stop := make(chan struct{})
	var served, failed, wrong atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}}
			urls := []string{proxy + "/example.com/big/@v/v1.0.0.zip", proxy + "/example.com/big/@v/v1.0.0.mod", proxy + "/example.com/big/@v/list"}
			for i := c; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := urls[i%len(urls)]
				resp, err := client.Get(u)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", u, err))
					continue
				}
				h := sha256.New()
				_, err = io.Copy(h, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %s %v", u, resp.Status, err))
					continue
				}
				if tag := resp.Header.Get("ETag"); tag != "" && tag != `"`+hex.EncodeToString(h.Sum(nil))+`"` {
					wrong.Add(1)
				}
				served.Add(1)
			}
		}()
	}
	var hups int
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); hups++ {
		if hups%20 == 10 {
			os.Link(spare, filepath.Join(dir, "b.gobundle"))
		} else if hups%20 == 0 {
			os.Remove(filepath.Join(dir, "b.gobundle"))
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	srv.stop(t)
	tally.Add(t, tally.Faults, int64(hups))
	tally.Add(t, tally.Requests, served.Load()+failed.Load())
	tally.Add(t, tally.Unexpected, failed.Load())
	tally.Add(t, tally.Wrong, wrong.Load())
	t.Logf("%d SIGHUPs, %d requests served, %d failed, %d wrong", hups, served.Load(), failed.Load(), wrong.Load())
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during the SIGHUP storm, first: %v", failed.Load(), firstErr.Load())
	}
	if served.Load() < 100 {
		t.Errorf("only %d requests served during the storm", served.Load())
	}
	if n := strings.Count(stderr.String(), "bundles reloaded"); n < hups/4 {
		t.Errorf("%d reloads logged for %d SIGHUPs", n, hups)
	}
}
