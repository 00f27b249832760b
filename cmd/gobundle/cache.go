package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
)

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
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
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
type CacheCleanCmd struct{ cacheFlag }

func (c *CacheCleanCmd) Run(e *env) error {
	dir, err := defaultCacheDir(c.Cache, "cache clean")
	if err != nil {
		return err
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
