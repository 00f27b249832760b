package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gobundle/gobundle/bundle"
)

// readEntryCmd is the hidden first argument that makes the bench binary
// read one file from a bundle and report what it cost, so that the parent
// can measure the peak RSS of exactly that: opening a bundle and reading
// one entry.
const readEntryCmd = "__read-entry"

// readEntryResult is what the read-entry child prints as JSON.
type readEntryResult struct {
	Entry   string  `json:"entry"`
	Bytes   int64   `json:"bytes"`
	SHA256  string  `json:"sha256"`
	OpenSec float64 `json:"open_seconds"`
	ReadSec float64 `json:"read_seconds"`
	MaxRSS  int64   `json:"max_rss"`
}

// readEntryMain implements `bench __read-entry BUNDLE module@version KIND`.
func readEntryMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(readEntryCmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() != 3 {
		fmt.Fprintf(stderr, "usage: bench %s BUNDLE module@version info|mod|zip\n", readEntryCmd)
		return 2
	}
	res, err := readEntry(context.Background(), fs.Arg(0), fs.Arg(1), fs.Arg(2))
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

func readEntry(ctx context.Context, name, modVersion, kindName string) (readEntryResult, error) {
	res := readEntryResult{Entry: modVersion + " " + kindName}
	path, vers, ok := strings.Cut(modVersion, "@")
	if !ok {
		return res, fmt.Errorf("%q: want module@version", modVersion)
	}
	kind, ok := bundle.ParseFileKind(kindName)
	if !ok {
		return res, fmt.Errorf("%q: want info, mod or zip", kindName)
	}
	start := time.Now()
	r, err := bundle.Open(ctx, name)
	if err != nil {
		return res, err
	}
	defer r.Close()
	res.OpenSec = time.Since(start).Seconds()
	start = time.Now()
	f, err := r.OpenFile(ctx, path, vers, kind)
	if err != nil {
		return res, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return res, fmt.Errorf("%s: %s: %w", name, res.Entry, err)
	}
	res.ReadSec = time.Since(start).Seconds()
	res.Bytes = n
	res.SHA256 = hex.EncodeToString(h.Sum(nil))
	res.MaxRSS = selfMaxRSS()
	return res, nil
}
