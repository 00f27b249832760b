package serve

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobundle/gobundle/bundle"
)

// Deflated zips (docs/FORMAT.md, "Zips as served") cost CPU to make:
// about 50 MB/s of content per core. The server makes each one once, when
// it is first asked for, into a file of the zip cache directory named by
// the sha256 the bundle records for it, and from then on sends that file
// as nginx would send the unpacked tree, checking its sha256 on every
// answer. Memory stays small whatever the zip's size: a zip is written to
// disk file by file (one compressed file and one decompressed frame in
// memory) and sent in 64 KiB reads, so eight clients of a 200 MiB
// toolchain zip cost eight buffers. The directory is bounded by bytes,
// least recently used files going first.

// DefaultZipCacheBytes bounds the zip cache directory unless Options say
// otherwise.
const DefaultZipCacheBytes = 8 << 30

// zipCache is the directory of deflated zips.
type zipCache struct {
	dir string
	max int64

	mu       sync.Mutex
	scanned  bool
	used     int64
	lru      *list.List // of *cachedZip, most recent first
	bySum    map[bundle.Sum]*list.Element
	building map[bundle.Sum]*buildCall
	// refused holds the zips this server's compressor does not
	// reproduce: they are served stored, without trying again.
	refused map[bundle.Sum]bool

	builds chan struct{} // bounds zips being made at once
}

type cachedZip struct {
	sum  bundle.Sum
	size int64
}

type buildCall struct {
	done chan struct{}
	err  error
}

func newZipCache(dir string, max int64) *zipCache {
	if max <= 0 {
		max = DefaultZipCacheBytes
	}
	return &zipCache{dir: dir, max: max, lru: list.New(), bySum: map[bundle.Sum]*list.Element{},
		building: map[bundle.Sum]*buildCall{}, refused: map[bundle.Sum]bool{},
		builds: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// path is where the zip of sha256 sum lives.
func (c *zipCache) path(sum bundle.Sum) string {
	h := sum.String()
	return filepath.Join(c.dir, h[:2], h+".zip")
}

// scanLocked lists the files left by earlier runs, oldest first by
// modification time, so that they count against the bound; the caller
// holds c.mu.
func (c *zipCache) scanLocked() {
	if c.scanned {
		return
	}
	c.scanned = true
	type found struct {
		z   cachedZip
		mod int64
	}
	var all []found
	filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") {
			// A temporary file: of a run that was stopped if it is old,
			// else maybe of another server sharing the directory.
			if st, err := d.Info(); err == nil && time.Since(st.ModTime()) > time.Hour {
				os.Remove(p)
			}
			return nil
		}
		var sum bundle.Sum
		if len(name) != 68 || !strings.HasSuffix(name, ".zip") {
			return nil
		}
		if _, err := fmt.Sscanf(name[:64], "%x", &sum); err != nil {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return nil
		}
		all = append(all, found{cachedZip{sum, st.Size()}, st.ModTime().UnixNano()})
		return nil
	})
	// Oldest at the back: insert newest first.
	for len(all) > 0 {
		j := 0
		for i := range all {
			if all[i].mod > all[j].mod {
				j = i
			}
		}
		z := all[j].z
		c.bySum[z.sum] = c.lru.PushBack(&z)
		c.used += z.size
		all = append(all[:j], all[j+1:]...)
	}
	c.evictLocked(nil)
}

// evictLocked removes the least recently used files until the cache fits
// its bound, sparing keep; the caller holds c.mu.
func (c *zipCache) evictLocked(keep *list.Element) {
	for c.used > c.max && c.lru.Len() > 0 {
		e := c.lru.Back()
		if e == keep {
			if c.lru.Len() == 1 {
				return
			}
			c.lru.MoveToFront(e)
			continue
		}
		z := e.Value.(*cachedZip)
		c.lru.Remove(e)
		delete(c.bySum, z.sum)
		c.used -= z.size
		os.Remove(c.path(z.sum)) // a reader holding it open keeps reading (not on Windows)
	}
}

// forget drops the file of sum, after it failed its check.
func (c *zipCache) forget(sum bundle.Sum) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.bySum[sum]; ok {
		c.used -= e.Value.(*cachedZip).size
		c.lru.Remove(e)
		delete(c.bySum, sum)
	}
	os.Remove(c.path(sum))
}

// isRefused reports whether sum is known not to be reproducible here.
func (c *zipCache) isRefused(sum bundle.Sum) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused[sum]
}

// get returns the path of the cached zip fi, making it with build first
// if it is not there (once, however many requests ask at the same time).
// build must check what it writes against fi.SHA256, as
// [bundle.Reader.WriteZip] does; a file it fails on is removed. An error
// wrapping bundle.ErrNotReproduced is remembered.
func (c *zipCache) get(ctx context.Context, fi *bundle.FileInfo, build func(io.Writer) error) (string, error) {
	sum := fi.SHA256
	for {
		c.mu.Lock()
		c.scanLocked()
		if c.refused[sum] {
			c.mu.Unlock()
			return "", fmt.Errorf("%w (remembered)", bundle.ErrNotReproduced)
		}
		if e, ok := c.bySum[sum]; ok {
			c.lru.MoveToFront(e)
			c.mu.Unlock()
			return c.path(sum), nil
		}
		if call, ok := c.building[sum]; ok {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if call.err != nil && !isCanceled(call.err) {
				return "", call.err
			}
			continue // made, or given up by a client that left: look again
		}
		call := &buildCall{done: make(chan struct{})}
		c.building[sum] = call
		c.mu.Unlock()

		call.err = c.make(ctx, fi, build)

		c.mu.Lock()
		delete(c.building, sum)
		if call.err == nil {
			e := c.lru.PushFront(&cachedZip{sum: sum, size: fi.Size})
			c.bySum[sum] = e
			c.used += fi.Size
			c.evictLocked(e)
		} else if errors.Is(call.err, bundle.ErrNotReproduced) {
			c.refused[sum] = true
		}
		c.mu.Unlock()
		close(call.done)
		if call.err != nil {
			return "", call.err
		}
		return c.path(sum), nil
	}
}

// make writes the zip through a temporary file renamed into place.
func (c *zipCache) make(ctx context.Context, fi *bundle.FileInfo, build func(io.Writer) error) error {
	select {
	case c.builds <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.builds }()
	name := c.path(fi.SHA256)
	if err := os.MkdirAll(filepath.Dir(name), 0o777); err != nil {
		return fmt.Errorf("zip cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return fmt.Errorf("zip cache: %w", err)
	}
	err = build(tmp)
	if err == nil {
		var st os.FileInfo
		if st, err = tmp.Stat(); err == nil && st.Size() != fi.Size {
			err = fmt.Errorf("zip cache: %s: %d bytes, not the %d recorded: %w", tmp.Name(), st.Size(), fi.Size, bundle.ErrCorrupt)
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// holdBack is what a full answer from the zip cache keeps back until the
// whole file's sha256 has been checked: a client never gets a complete
// body that failed its check.
const holdBack = 64 << 10

// checkFile reads f whole and reports whether it has size bytes and
// sha256 sum.
func checkFile(f *os.File, size int64, sum bundle.Sum) error {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, size+1))
	if err != nil {
		return err
	}
	if n != size || bundle.Sum(h.Sum(nil)) != sum {
		return fmt.Errorf("zip cache file %s: sha256 mismatch: %w", f.Name(), bundle.ErrCorrupt)
	}
	return nil
}

// sendCachedZip answers a request for a deflated zip from the zip cache,
// making the file first if needed. handled is false when the request is
// to be answered with the stored zip instead: this server's compressor
// does not reproduce the bundle's deflated zip, or the cached file failed
// its check before anything was sent (it is removed, and made again by
// the next request).
func (s *Server) sendCachedZip(w *statusWriter, r *http.Request, path string, mv *modVersion, loc *fileLoc, what func() string) (handled, abort bool) {
	fi := loc.fi
	if s.zips.isRefused(fi.SHA256) {
		return false, false
	}
	tag := []string{etag(fi.SHA256)}
	w.Header()["Etag"] = tag
	if notModified(w, r, tag[0]) {
		return true, false
	}
	p, err := s.zips.get(r.Context(), fi, func(out io.Writer) error {
		_, err := loc.b.src.WriteZip(r.Context(), path, mv.version, out)
		return err
	})
	switch {
	case errors.Is(err, bundle.ErrNotReproduced):
		s.log.Warn("deflated zip not reproduced by this gobundle; serving it stored", "entry", what(), "err", err)
		return false, false
	case errors.Is(err, bundle.ErrCorrupt), isCanceled(err):
		s.readError(w, what(), err)
		return true, false
	case err != nil:
		// The cache directory failed (full, removed, another server's
		// cleanup): the stored zip is still correct.
		s.log.Warn("zip cache failed; serving the zip stored", "entry", what(), "err", err)
		return false, false
	}
	f, err := os.Open(p)
	if err != nil {
		s.zips.forget(fi.SHA256) // removed meanwhile (evicted): make it again next time
		return false, false
	}
	defer f.Close()
	size := fi.Size
	clen := []string{strconv.FormatInt(size, 10)}
	refuse := func(err error) {
		s.logReadError(what()+" (zip cache)", err, false)
		s.zips.forget(fi.SHA256)
	}
	if _, ranged := r.Header["Range"]; ranged || size <= smallFile {
		// Check the whole file before the first byte goes out.
		if size <= smallFile {
			buf := make([]byte, size)
			if n, err := f.ReadAt(buf, 0); int64(n) != size || bundle.Sum(sha256.Sum256(buf)) != fi.SHA256 {
				refuse(fmt.Errorf("%d bytes read (%v), sha256 mismatch: %w", n, err, bundle.ErrCorrupt))
				return false, false
			}
			sendData(w, r, buf, clen)
			return true, false
		}
		if err := checkFile(f, size, fi.SHA256); err != nil {
			refuse(err)
			return false, false
		}
		http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(f, 0, size))
		return true, false
	}
	w.Header()["Content-Length"] = clen
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return true, false
	}
	// Everything but the last holdBack bytes goes out as it is hashed;
	// those follow once the whole file's sha256 matched.
	h := sha256.New()
	sr := io.NewSectionReader(f, 0, size)
	buf := make([]byte, 64<<10)
	cw := &clientWriter{w: w}
	n, err := io.CopyBuffer(cw, io.TeeReader(io.LimitReader(sr, size-holdBack), h), buf)
	if cw.err != nil {
		return true, true // the client went away: nothing to check
	}
	tail := buf[:holdBack]
	k, terr := io.ReadFull(sr, tail)
	h.Write(tail[:k])
	if err != nil || terr != nil || n != size-holdBack || bundle.Sum(h.Sum(nil)) != fi.SHA256 {
		s.logReadError(what()+" (zip cache)", fmt.Errorf("sha256 mismatch at the end of the file: %w", bundle.ErrCorrupt), true)
		s.zips.forget(fi.SHA256)
		return true, true
	}
	w.Write(tail)
	return true, false
}

// clientWriter remembers a failed write to the client, to tell it from a
// failed read of the file.
type clientWriter struct {
	w   io.Writer
	err error
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
