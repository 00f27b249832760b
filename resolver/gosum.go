package resolver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
)

// ChecksumError reports a downloaded file whose go.sum hash differs from the
// one an input's go.sum file lists.
type ChecksumError struct {
	Path, Version string
	File          string // "go.mod" or "zip"
	Got           string // hash of the downloaded file, "h1:..."
	Want          string // hash listed in Source
	Source        string // the go.sum file (and line) that lists Want
	Mirror        string // the mirror that served the file
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s@%s: %s checksum mismatch: downloaded %s from %s, %s has %s",
		e.Path, e.Version, e.File, e.Got, e.Mirror, e.Source, e.Want)
}

// VerifyError reports a downloaded file the checksum database did not
// confirm; Err (a [*SumDBError] from [SumDB.Check]) holds both hashes.
type VerifyError struct {
	Path, Version string
	File          string // "go.mod" or "zip"
	Got           string // hash of the downloaded file
	Mirror        string // the mirror that served the file
	Err           error
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%s@%s: %s %s downloaded from %s: %v",
		e.Path, e.Version, e.File, e.Got, e.Mirror, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// sumKey names one go.sum line: a module version's zip or its go.mod.
type sumKey struct {
	Path, Version string
	Mod           bool
}

// sumLine is one hash listed in a go.sum file.
type sumLine struct {
	Hash string
	Src  string // "file:line"
	File string
}

// goSums holds the go.sum lines of all inputs. It is safe for concurrent use
// once loaded.
type goSums struct {
	mu    sync.Mutex
	lines map[sumKey][]sumLine
	files []string
}

func newGoSums() *goSums { return &goSums{lines: make(map[sumKey][]sumLine)} }

// readFile adds the lines of one go.sum (or go.work.sum) file; a file that does
// not exist adds nothing.
func (s *goSums) readFile(ctx context.Context, file string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.add(file, data)
}

// add parses go.sum content; lines with hashes other than "h1:" are kept
// aside (the go command ignores them too).
func (s *goSums) add(file string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f == file {
			return nil
		}
	}
	s.files = append(s.files, file)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return fmt.Errorf("%s:%d: malformed go.sum line", file, n)
		}
		// The hash of an empty go.mod, written by an old bug of the go
		// command for non-modules, is dropped (modfetch readGoSum).
		if !strings.HasPrefix(f[2], "h1:") || f[2] == emptyGoModHash {
			continue
		}
		k := sumKey{Path: f[0], Version: f[1]}
		if v, ok := strings.CutSuffix(f[1], "/go.mod"); ok {
			k.Version, k.Mod = v, true
		}
		src := fmt.Sprintf("%s:%d", file, n)
		s.lines[k] = append(s.lines[k], sumLine{Hash: f[2], Src: src, File: file})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// zips returns the module versions whose zip hash some go.sum lists, in
// path order: in a tidy project, the zips its build needs.
func (s *goSums) zips() []module.Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []module.Version
	for k := range s.lines {
		if !k.Mod && module.Check(k.Path, k.Version) == nil {
			out = append(out, module.Version{Path: k.Path, Version: k.Version})
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessVersion(out[i], out[j]) })
	return out
}

// check compares a computed hash with the go.sum lines for the file, as
// the go command does (modfetch haveModSumLocked): within one go.sum file,
// lines are taken in order and the first that matches accepts the hash,
// unless a different h1: line comes before it; every file that lists the
// file must accept it. It reports whether some go.sum listed the file.
func (s *goSums) check(path, version string, isMod bool, got, mirror string) (bool, error) {
	s.mu.Lock()
	lines := s.lines[sumKey{path, version, isMod}]
	s.mu.Unlock()
	accepted := map[string]bool{} // files whose lines matched already
	for _, l := range lines {
		if accepted[l.File] {
			continue
		}
		if l.Hash == got {
			accepted[l.File] = true
			continue
		}
		file := "zip"
		if isMod {
			file = "go.mod"
		}
		return true, &ChecksumError{Path: path, Version: version, File: file,
			Got: got, Want: l.Hash, Source: l.Src, Mirror: mirror}
	}
	return len(lines) > 0, nil
}

// emptyGoModHash is the go.sum hash of an empty go.mod (modfetch's
// emptyGoModHash).
const emptyGoModHash = "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY="

// hashGoMod returns the go.sum hash of a go.mod file's content, as the go
// command computes it for the "/go.mod" line.
func hashGoMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// hashZip returns the go.sum hash of a module zip on disk.
func hashZip(m module.Version, file string) (string, error) {
	h, err := dirhash.HashZip(file, dirhash.Hash1)
	if err != nil {
		return "", fmt.Errorf("%s@%s: hashing zip %s: %w", m.Path, m.Version, file, err)
	}
	return h, nil
}
