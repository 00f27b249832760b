package resolver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gobundle/gobundle/internal/applog"
	"github.com/gobundle/gobundle/internal/fsutil"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
)

// # Download cache layout
//
// The cache under CacheDir is content-addressed and safe to share between
// processes:
//
//	blobs/sha256/ab/abcdef…         file content, named by its SHA-256
//	keys/<escaped path>/@v/<escaped version>.<kind>   {"sha256":…,"size":…,"origin":…}
//	keys.log                        keys of .info and .mod files, one JSON line each (see Key log)
//	small.log                       content of .info and .mod files (see Small files)
//	h1/ab/abcdef…                   go.sum hash ("h1:…") of the zip blob abcdef…
//	tmp/                            downloads in progress
//	direct/                         GOMODCACHE of the go command for "direct"
//
// A blob is written to tmp/, checked, then renamed into place; the key file
// is written after the blob, also by rename. A zip's check ends at its
// place: golang.org/x/mod/zip's checks of names and declared sizes run in
// tmp/, and the read through every file (which inflates it, see
// [Mirrors.FetchZip]) on the blob before its key is written; a zip that
// fails is removed. An interrupted run therefore leaves at most stray files
// in tmp/ and blobs no key names, never a key naming an incomplete or
// unchecked blob.
// Blobs are re-hashed when first used by a process; a corrupt one is removed
// and fetched again.
//
// The go.sum hash of a zip is a function of the zip's bytes alone (file
// names and contents), so it is remembered under h1/ by the blob's SHA-256:
// a repeated create checks go.sum and the checksum database without
// inflating any zip. It records what was computed, not what was verified:
// every run still verifies it.

// cacheKey is the content of a key file.
type cacheKey struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Origin string `json:"origin"`
}

// blobCache is the on-disk download cache.
type blobCache struct {
	dir string

	sem chan struct{} // bounds files open for reading the cache

	mu       sync.Mutex
	verified map[string]bool // blob hashes checked by this process

	logOnce sync.Once
	index   map[string]cacheKey // keys.log, by logKeyName
	small   map[string][]byte   // small.log, by hex sha256 (checked)
	logMu   sync.Mutex          // serialises appends to keys.log
	keysW   *os.File            // keys.log, open for appending once needed
	smallW  *applog.Writer
}

func newBlobCache(dir string, jobs int) (*blobCache, error) {
	if dir == "" {
		return nil, errors.New("download cache directory not set")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("download cache %s: %w", dir, err)
	}
	for _, sub := range []string{"blobs", "keys", "tmp", "h1"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o777); err != nil {
			return nil, fmt.Errorf("download cache: %w", err)
		}
	}
	c := &blobCache{dir: abs, verified: make(map[string]bool), sem: make(chan struct{}, max(jobs, 1))}
	c.smallW = applog.NewWriter(filepath.Join(abs, "small.log"))
	c.removeStale(24 * time.Hour)
	return c, nil
}

// removeStale removes downloads left in tmp/ by runs that were killed. Only
// old files are removed: another process may be writing the recent ones.
func (c *blobCache) removeStale(age time.Duration) {
	dir := filepath.Join(c.dir, "tmp")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func (c *blobCache) blobPath(sum string) string {
	return filepath.Join(c.dir, "blobs", "sha256", sum[:2], sum)
}

func (c *blobCache) keyPath(path, version, kind string) (string, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	ev, err := module.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	return filepath.Join(c.dir, "keys", filepath.FromSlash(ep), "@v", ev+"."+kind), nil
}

// get returns the cached file for the key, or ok=false if it is missing or
// corrupt (a corrupt blob is removed).
func (c *blobCache) get(ctx context.Context, path, version, kind string) (f Fetched, ok bool) {
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return Fetched{}, false
	}
	k, ok := c.logged(path, version, kind)
	if !ok {
		kp, err := c.keyPath(path, version, kind)
		if err != nil {
			return Fetched{}, false
		}
		data, err := os.ReadFile(kp)
		if err != nil {
			return Fetched{}, false
		}
		if json.Unmarshal(data, &k) != nil || !isHexSHA256(k.SHA256) {
			return Fetched{}, false
		}
	}
	c.mu.Lock()
	_, small := c.small[k.SHA256]
	c.mu.Unlock()
	if small {
		return Fetched{Size: k.Size, SHA256: k.SHA256, Origin: k.Origin}, true
	}
	bp := c.blobPath(k.SHA256)
	c.mu.Lock()
	done := c.verified[k.SHA256]
	c.mu.Unlock()
	if !done {
		sum, size, err := hashFile(ctx, bp)
		if err != nil || sum != k.SHA256 || size != k.Size {
			if err == nil {
				os.Remove(bp) // corrupt: make room for a fresh copy
			}
			return Fetched{}, false
		}
		c.mu.Lock()
		c.verified[k.SHA256] = true
		c.mu.Unlock()
		// Mark the use (once a process): TrimCache removes the least
		// recently used downloads first. Best effort.
		now := time.Now()
		os.Chtimes(bp, now, now)
	}
	return Fetched{File: bp, Size: k.Size, SHA256: k.SHA256, Origin: k.Origin}, true
}

func (c *blobCache) h1Path(sum string) string {
	return filepath.Join(c.dir, "h1", sum[:2], sum)
}

// zipHash returns the go.sum hash remembered for the zip blob sum.
func (c *blobCache) zipHash(sum string) (string, bool) {
	if !isHexSHA256(sum) {
		return "", false
	}
	data, err := os.ReadFile(c.h1Path(sum))
	if err != nil {
		return "", false
	}
	h := strings.TrimSpace(string(data))
	if !validH1(h) {
		return "", false
	}
	return h, true
}

// putZipHash remembers the go.sum hash h of the zip blob sum.
func (c *blobCache) putZipHash(sum, h string) error {
	if !isHexSHA256(sum) || !validH1(h) {
		return fmt.Errorf("download cache: not a zip hash record: %s %s", sum, h)
	}
	if err := writeFileAtomic(c.h1Path(sum), []byte(h+"\n")); err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	return nil
}

// validH1 reports whether h looks like a dirhash.Hash1 result.
func validH1(h string) bool {
	b, ok := strings.CutPrefix(h, "h1:")
	if !ok {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(b)
	return err == nil && len(raw) == sha256.Size
}

// tempFile creates a file for a download in progress.
func (c *blobCache) tempFile() (*os.File, error) {
	return os.CreateTemp(filepath.Join(c.dir, "tmp"), "dl-*")
}

// put moves the complete temporary file tmp (whose content hashes to sum)
// into the blob store and records the key. tmp is gone afterwards.
func (c *blobCache) put(ctx context.Context, tmp, path, version, kind, sum string, size int64, origin string) (Fetched, error) {
	f, _, err := c.placeBlob(ctx, tmp, sum, size, origin)
	if err != nil {
		return Fetched{}, err
	}
	return f, c.putKey(path, version, kind, f)
}

// placeBlob moves the complete temporary file tmp (whose content hashes
// to sum) into the blob store, where no key names it yet: [blobCache.put]
// without the key, for a file checked at its place before it is recorded
// (see [Mirrors.FetchZip]). placed reports that tmp was moved in, rather
// than dropped for an intact copy already there. tmp is gone afterwards.
func (c *blobCache) placeBlob(ctx context.Context, tmp, sum string, size int64, origin string) (f Fetched, placed bool, err error) {
	bp := c.blobPath(sum)
	if err := os.MkdirAll(filepath.Dir(bp), 0o777); err != nil {
		os.Remove(tmp)
		return Fetched{}, false, fmt.Errorf("download cache: %w", err)
	}
	// A blob is never rewritten: if an intact copy exists (fetched under
	// another key or by another process), keep it and drop ours.
	c.mu.Lock()
	have := c.verified[sum]
	c.mu.Unlock()
	if !have {
		if got, n, err := hashFile(ctx, bp); err == nil && got == sum && n == size {
			have = true
		}
	}
	if have {
		os.Remove(tmp)
	} else if err := os.Rename(tmp, bp); err != nil {
		os.Remove(tmp)
		return Fetched{}, false, fmt.Errorf("download cache: %w", err)
	}
	return Fetched{File: bp, Size: size, SHA256: sum, Origin: origin}, !have, nil
}

// dropBlob removes a blob placed by [blobCache.placeBlob] that failed
// its check, before any key named it.
func (c *blobCache) dropBlob(f Fetched) {
	os.Remove(f.File)
}

// putKey records the key of the blob f, in the store already, once it is
// checked.
func (c *blobCache) putKey(path, version, kind string, f Fetched) error {
	c.mu.Lock()
	c.verified[f.SHA256] = true
	c.mu.Unlock()
	kp, err := c.keyPath(path, version, kind)
	if err != nil {
		return err
	}
	data, err := json.Marshal(cacheKey{SHA256: f.SHA256, Size: f.Size, Origin: f.Origin})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(kp, data); err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	return nil
}

// putData stores a small file held in memory: appended to small.log (see
// Small files), its key to keys.log.
func (c *blobCache) putData(ctx context.Context, data []byte, path, version, kind, origin string) (Fetched, error) {
	if err := ctx.Err(); err != nil {
		return Fetched{}, err
	}
	c.loadLog()
	s := sha256.Sum256(data)
	sum := hex.EncodeToString(s[:])
	size := int64(len(data))
	c.mu.Lock()
	_, have := c.small[sum]
	c.mu.Unlock()
	if !have {
		data = bytes.Clone(data)
		if err := c.smallW.Append(sum, data); err != nil {
			return Fetched{}, fmt.Errorf("download cache: %w", err)
		}
		c.mu.Lock()
		c.small[sum] = data
		c.mu.Unlock()
	}
	if err := c.logKey(path, version, kind, &cacheKey{SHA256: sum, Size: size, Origin: origin}); err != nil {
		return Fetched{}, err
	}
	return Fetched{Size: size, SHA256: sum, Origin: origin}, nil
}

// close closes the cache's logs.
func (c *blobCache) close() error {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	var err error
	if c.keysW != nil {
		err = c.keysW.Close()
		c.keysW = nil
	}
	if cerr := c.smallW.Close(); err == nil {
		err = cerr
	}
	return err
}

// smallFile returns the content of a small file kept in small.log.
func (c *blobCache) smallFile(sum string) ([]byte, bool) {
	c.loadLog()
	c.mu.Lock()
	defer c.mu.Unlock()
	data, ok := c.small[sum]
	return data, ok
}

// putFile copies the file src into the cache (used for the go command's
// module cache, whose files are read-only and owned by it).
func (c *blobCache) putFile(ctx context.Context, src, path, version, kind, origin string) (Fetched, error) {
	in, err := os.Open(src)
	if err != nil {
		return Fetched{}, err
	}
	defer in.Close()
	tmp, err := c.tempFile()
	if err != nil {
		return Fetched{}, fmt.Errorf("download cache: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, in})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return Fetched{}, fmt.Errorf("copying %s: %w", src, err)
	}
	return c.put(ctx, tmp.Name(), path, version, kind, hex.EncodeToString(h.Sum(nil)), n, origin)
}

func hashFile(ctx context.Context, file string) (sum string, size int64, err error) {
	f, err := os.Open(file)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// forget removes the key of module@version's file of the given kind.
func (c *blobCache) forget(path, version, kind string) error {
	kp, err := c.keyPath(path, version, kind)
	if err != nil {
		return err
	}
	if err := os.Remove(kp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("download cache: %w", err)
	}
	if _, ok := c.logged(path, version, kind); ok {
		return c.logKey(path, version, kind, nil)
	}
	return nil
}

// # Key log
//
// Small files (.info, .mod) are many: a large graph has thousands, and
// creating a key file for each cost as much as creating its blob. Their
// keys are appended instead to keys.log, one JSON line each ({"k":
// "path@version.kind", "sha256", "size", "origin"}; without sha256 a line
// removes the key), read once per process. Each line is one append, so the
// lines of concurrent processes do not mix; a torn line is skipped, and a
// key another process logged after this one read the log is a cache miss.

// logLine is a line of keys.log.
type logLine struct {
	K string `json:"k"`
	cacheKey
}

func (c *blobCache) logFile() string { return filepath.Join(c.dir, "keys.log") }

func logKeyName(path, version, kind string) string { return path + "@" + version + "." + kind }

// # Small files
//
// The content of .info and .mod files is appended to small.log (an
// internal/applog log keyed by the content's hex SHA-256) rather than
// stored as a blob file each: creating and renaming thousands of files was
// the largest part of a cold create's system time. The log is read once per
// process; a record whose content does not match its key is ignored.

// loadLog reads keys.log and small.log once.
func (c *blobCache) loadLog() {
	c.logOnce.Do(func() {
		small := make(map[string][]byte)
		if recs, err := applog.Read(filepath.Join(c.dir, "small.log")); err == nil {
			for sum, data := range recs {
				if s := sha256.Sum256(data); isHexSHA256(sum) && hex.EncodeToString(s[:]) == sum {
					small[sum] = data
				}
			}
		}
		index := make(map[string]cacheKey)
		if data, err := os.ReadFile(c.logFile()); err == nil {
			for line := range bytes.Lines(data) {
				var l logLine
				if !bytes.HasSuffix(line, []byte("\n")) || json.Unmarshal(line, &l) != nil || l.K == "" {
					continue
				}
				if l.SHA256 == "" {
					delete(index, l.K)
				} else if isHexSHA256(l.SHA256) {
					index[l.K] = l.cacheKey
				}
			}
		}
		c.mu.Lock()
		c.index = index
		c.small = small
		c.mu.Unlock()
	})
}

// logged returns the key of a file from the key log.
func (c *blobCache) logged(path, version, kind string) (cacheKey, bool) {
	c.loadLog()
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.index[logKeyName(path, version, kind)]
	return k, ok
}

// logKey appends a key (nil: its removal) to the key log.
func (c *blobCache) logKey(path, version, kind string, k *cacheKey) error {
	c.loadLog()
	l := logLine{K: logKeyName(path, version, kind)}
	if k != nil {
		l.cacheKey = *k
	}
	line, err := json.Marshal(l)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	c.logMu.Lock()
	defer c.logMu.Unlock()
	if c.keysW == nil {
		c.keysW, err = os.OpenFile(c.logFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	}
	if err == nil {
		_, err = c.keysW.Write(line)
	}
	if err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	c.mu.Lock()
	if k != nil {
		c.index[l.K] = *k
	} else {
		delete(c.index, l.K)
	}
	c.mu.Unlock()
	return nil
}

// writeFileAtomic writes data to file, creating its directory.
func writeFileAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o777); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(file, data)
}
