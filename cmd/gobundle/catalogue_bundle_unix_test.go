//go:build unix

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/tally"
)

// badBundle is one damaged bundle of the catalogue and the error each
// reading command must give for it.
type badBundle struct {
	name string
	data []byte
	want string // in the error (which names the file first)
}

// damagedBundles returns the damaged copies of the honest bundle good: empty,
// truncated at every section boundary (and inside each section), a bit
// flipped in each section, a newer format version, and files that are not
// bundles at all.
func damagedBundles(good []byte) []badBundle {
	size := len(good)
	indexOff := int(binary.LittleEndian.Uint64(good[size-88:]))
	indexLen := int(binary.LittleEndian.Uint64(good[size-80:]))
	cut := func(n int) []byte { return good[:n] }
	flip := func(off int) []byte {
		b := append([]byte(nil), good...)
		b[off] ^= 0x10
		return b
	}
	var cs []badBundle
	add := func(name string, data []byte, want string) { cs = append(cs, badBundle{name, data, want}) }
	const trunc, noTrailer = "bundle truncated or not a gobundle file (%d bytes): bundle corrupt", "bundle truncated or not a gobundle file (no trailer): bundle corrupt"
	const magic, crc = "not a gobundle file (bad magic): bundle corrupt", "header or trailer checksum mismatch: bundle corrupt"
	add("empty", nil, fmt.Sprintf(trunc, 0))
	for _, n := range []int{8, 16, 17} {
		add(fmt.Sprintf("truncated-at-%d", n), cut(n), fmt.Sprintf(trunc, n))
	}
	for _, n := range []int{(16 + indexOff) / 2, indexOff, indexOff + indexLen/2, indexOff + indexLen, size - 44, size - 1} {
		add(fmt.Sprintf("truncated-at-%d", n), cut(n), noTrailer)
	}
	add("flip-magic", flip(0), magic)
	add("flip-version", flip(9), "header: bundle format version 4097 is not supported by this gobundle (knows 1): unsupported bundle format")
	add("flip-frame", flip(16+(indexOff-16)/2), "stored sha256 mismatch: bundle corrupt")
	add("flip-index", flip(indexOff+indexLen/2), "index checksum mismatch: bundle corrupt")
	add("flip-trailer-offset", flip(size-88), crc)
	add("flip-trailer-digest", flip(size-60), crc)
	add("flip-trailer-magic", flip(size-1), noTrailer)
	add("newer-version", newerVersion(good), "header: bundle format version 2 is not supported by this gobundle (knows 1): unsupported bundle format")
	add("not-a-bundle-zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"+strings.Repeat("x", 200)), magic)
	add("not-a-bundle-text", []byte(strings.Repeat("module example.com/x\n", 20)), magic)
	add("not-a-bundle-zstd", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, make([]byte, 200)...), magic)
	return cs
}

// newerVersion returns good as if written by a later gobundle: format
// version 2 in header and trailer, checksums right.
func newerVersion(good []byte) []byte {
	b := append([]byte(nil), good...)
	size := len(b)
	binary.LittleEndian.PutUint32(b[8:], 2)
	binary.LittleEndian.PutUint32(b[size-88+72:], 2)
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write(b[:16])
	h.Write(b[size-88 : size-88+76])
	binary.LittleEndian.PutUint32(b[size-88+76:], h.Sum32())
	return b
}

// TestCatalogueBadBundles: inspect, verify, unpack and serve refuse every
// damaged bundle with exit 1 and one error line naming the file and what is
// wrong, and unpack writes nothing.
func TestCatalogueBadBundles(t *testing.T) {
	dir := t.TempDir()
	goodName := filepath.Join(dir, "good.gobundle")
	writeTestBundle(t, goodName, "example.com/big", 4, 64<<10)
	good, err := os.ReadFile(goodName)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	for _, c := range damagedBundles(good) {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			name := filepath.Join(work, "x.gobundle")
			if err := os.WriteFile(name, c.data, 0o666); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(work, "out")
			cmds := [][]string{{"inspect", name}, {"verify", name}, {"unpack", name, out}, {"serve", "--listen", "127.0.0.1:0", name}}
			if c.name == "flip-frame" {
				// The index is sound: inspect describes it and serve starts;
				// the frame fails its sha256 when read (serve answers 500
				// for it: serve's TestCorruptFrameNotServed).
				cmds = cmds[1:3]
			}
			for _, args := range cmds {
				var stdout, stderr strings.Builder
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				code := run(ctx, args, &stdout, &stderr, getenv)
				cancel()
				tally.Add(t, tally.Inputs, 1)
				got := strings.ReplaceAll(stderr.String(), work, "$WORK")
				lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
				last := lines[len(lines)-1]
				if code != 1 || !strings.HasPrefix(last, "gobundle: ") || !strings.Contains(last, "$WORK/x.gobundle") || !strings.Contains(got, c.want) {
					t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 1 and an error naming the file with %q", args[0], code, got, c.want)
					continue
				}
				tally.Add(t, tally.Errors, 1)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("unpack wrote %s", out)
			}
		})
	}
}
