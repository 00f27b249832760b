package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gobundle/gobundle/resolver"
)

// sourceConfig is what [openSources] needs.
type sourceConfig struct {
	Settings
	Jobs, Retries int
	Logger        *slog.Logger
	Progress      func(resolver.Event)
}

// openSources makes the download cache directory and opens the mirror
// chain and the checksum database (nil when off). On an error, what was
// opened is returned too, for the caller to close.
func openSources(ctx context.Context, c sourceConfig) (*resolver.Mirrors, *resolver.SumDB, error) {
	if err := os.MkdirAll(c.CacheDir, 0o777); err != nil {
		return nil, nil, err
	}
	mirrors, err := resolver.NewMirrors(resolver.MirrorConfig{
		Proxy:    c.Proxy,
		NoProxy:  c.NoProxy,
		Private:  c.Private,
		Insecure: c.Insecure,
		CacheDir: c.CacheDir,
		Jobs:     c.Jobs,
		Retries:  c.Retries,
		Netrc:    c.Netrc,
		GOAUTH:   c.Auth,
		GoEnv:    c.DirectEnv,
		Logger:   c.Logger,
		Progress: c.Progress,
	})
	if err != nil {
		return nil, nil, UsageError{fmt.Errorf("create: --proxy: %w", err)}
	}
	gosumdb, err := withSumDBKey(ctx, c.SumDB, c.GOROOT)
	if err != nil {
		return mirrors, nil, UsageError{fmt.Errorf("create: --sumdb: %w", err)}
	}
	sumdb, err := resolver.NewSumDB(resolver.SumDBConfig{
		GOSUMDB:  gosumdb,
		NoSumDB:  c.NoSumDB,
		Private:  c.Private,
		CacheDir: c.CacheDir,
		Logger:   c.Logger,
	}, mirrors)
	if err != nil {
		return mirrors, nil, UsageError{fmt.Errorf("create: --sumdb: %w", err)}
	}
	return mirrors, sumdb, nil
}

// withSumDBKey turns a bare checksum database name (GOSUMDB=name or
// "name url") into name+key with the key built into the go toolchain at
// goroot; other values are returned as they are.
func withSumDBKey(ctx context.Context, gosumdb, goroot string) (string, error) {
	// sum.golang.google.cn is an alias the go command knows: sum.golang.org
	// (its key) at that URL, which then bypasses the proxies (modfetch
	// dbDial).
	if gosumdb == "sum.golang.google.cn" {
		gosumdb = "sum.golang.org https://sum.golang.google.cn"
	}
	f := strings.Fields(gosumdb)
	if len(f) == 0 || f[0] == "off" || strings.Contains(f[0], "+") {
		return gosumdb, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if goroot == "" {
		return "", fmt.Errorf("GOSUMDB %q names no key and GOROOT is unknown: pass name+key", gosumdb)
	}
	keyFile := filepath.Join(goroot, "src", "cmd", "go", "internal", "modfetch", "key.go")
	src, err := os.ReadFile(keyFile)
	if err != nil {
		return "", fmt.Errorf("GOSUMDB %q names no key: %w", gosumdb, err)
	}
	key, ok := resolver.KnownSumDBKeys(src)[f[0]]
	if !ok {
		return "", fmt.Errorf("GOSUMDB %q names no key and the go toolchain knows none for it (%s): pass name+key", gosumdb, keyFile)
	}
	f[0] = key
	return strings.Join(f, " "), nil
}
