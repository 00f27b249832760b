package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gobundle/gobundle/internal/fsutil"
	"github.com/gobundle/gobundle/resolver"
)

// byteSize is a size flag: a number of bytes with an optional unit, IEC
// (KiB, MiB, GiB, TiB) or SI (KB, MB, GB, TB).
type byteSize int64

func (s *byteSize) UnmarshalText(text []byte) error {
	t := strings.TrimSpace(string(text))
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.TrimSpace(t[len(num):])
	mult := map[string]int64{"": 1, "B": 1,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || mult == 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q: want a size such as 500MiB, 5GiB or 2GB", t)
	}
	*s = byteSize(n * mult)
	return nil
}

// CacheCmd is `gobundle cache`: what create keeps between runs.
type CacheCmd struct {
	Du    CacheDuCmd    `cmd:"" help:"Show how much disk the cache uses, by part.\n\nExample: gobundle cache du"`
	Clean CacheCleanCmd `cmd:"" help:"Delete the cache. Always safe: the next create downloads and compresses again.\n\nExample: gobundle cache clean"`
}

// cacheFlag is the --cache flag of the cache commands, with create's
// default.
type cacheFlag struct {
	Cache string `placeholder:"DIR" type:"path" help:"Cache directory. Default: <user cache dir>/gobundle, as create uses."`
}

// defaultCacheDir returns dir, else create's default cache directory.
func defaultCacheDir(dir, cmd string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	ucd, err := os.UserCacheDir()
	if err != nil {
		return "", usageError{fmt.Errorf("%s: no user cache directory (%v): set --cache", cmd, err)}
	}
	return filepath.Join(ucd, "gobundle"), nil
}

// CacheDuCmd is `gobundle cache du`.
type CacheDuCmd struct{ cacheFlag }

func (c *CacheDuCmd) Run(e *env) error {
	dir, err := defaultCacheDir(c.Cache, "cache du")
	if err != nil {
		return err
	}
	parts, total, err := cacheUsage(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	names := make([]string, 0, len(parts))
	for n := range parts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t  %s\n", humanBytes(parts[n]), n)
	}
	fmt.Fprintf(tw, "%s\t  %s\n", humanBytes(total), dir)
	return tw.Flush()
}

// cacheUsage returns the bytes under each top-level entry of dir, and in
// all.
func cacheUsage(dir string) (map[string]int64, int64, error) {
	parts := map[string]int64{}
	var total int64
	err := fsutil.WalkFiles(dir, func(p string, info fs.FileInfo) error {
		rel, _ := filepath.Rel(dir, p)
		top := rel
		if i := indexSep(rel); i >= 0 {
			top = rel[:i]
		}
		parts[top] += info.Size()
		total += info.Size()
		return nil
	})
	return parts, total, err
}

func indexSep(p string) int {
	for i := 0; i < len(p); i++ {
		if os.IsPathSeparator(p[i]) {
			return i
		}
	}
	return -1
}

// CacheCleanCmd is `gobundle cache clean`.
type CacheCleanCmd struct {
	cacheFlag
	Max *byteSize `placeholder:"SIZE" help:"Do not delete it all: remove the least recently used downloads until the cache takes at most SIZE, as create --cache-max does. Example: gobundle cache clean --max 5GiB."`
}

func (c *CacheCleanCmd) Run(e *env) error {
	dir, err := defaultCacheDir(c.Cache, "cache clean")
	if err != nil {
		return err
	}
	if c.Max != nil {
		t, err := resolver.TrimCache(e.ctx, dir, int64(*c.Max))
		if err != nil {
			return fmt.Errorf("cache clean: %w", err)
		}
		fmt.Fprintf(e.stdout, "removed %d downloads (%s) from %s: %s left (at most %s)\n",
			t.Removed, humanBytes(t.RemovedBytes), dir, humanBytes(t.After), humanBytes(int64(*c.Max)))
		return nil
	}
	_, total, err := cacheUsage(dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cache clean: %w", err)
	}
	fmt.Fprintf(e.stdout, "removed %s (%s)\n", dir, humanBytes(total))
	return nil
}
