package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// synthSpec describes a generated GOPROXY tree: large module versions of
// incompressible content (to reach a bundle size) and many small module
// versions (so the index has a realistic number of entries). The same spec
// always gives the same files.
type synthSpec struct {
	Large      int // module versions of LargeFiles random files each
	LargeFiles int
	FileSize   int // bytes per large file
	Small      int // small module paths
	SmallVers  int // versions of each small module
}

func (s synthSpec) key() string {
	return fmt.Sprintf("synth-v1/%d/%d/%d/%d/%d", s.Large, s.LargeFiles, s.FileSize, s.Small, s.SmallVers)
}

// bigSpec sizes the synthetic tree so that its raw content is about
// rawBytes.
func bigSpec(rawBytes int64, quick bool) synthSpec {
	s := synthSpec{LargeFiles: 8, FileSize: 3 << 19, Small: 400, SmallVers: 5}
	if quick {
		s.Small, s.SmallVers = 50, 4
	}
	per := int64(s.LargeFiles * s.FileSize)
	s.Large = int((rawBytes + per - 1) / per)
	return s
}

// prepareBig generates (or re-uses) the synthetic tree.
func (b *bench) prepareBig(ctx context.Context) (*tree, error) {
	spec := bigSpec(b.cfg.bigSize, b.cfg.quick)
	base := b.treeBase("big")
	if t, ok := loadReady(base, spec.key()); ok {
		b.log.Info("re-using cached tree", "tree", "big", "dir", b.rel(t.Dir))
		return t, nil
	}
	if err := removeAll(base); err != nil {
		return nil, err
	}
	dir := filepath.Join(base, "tree")
	b.log.Info("generating synthetic tree", "dir", b.rel(dir), "large", spec.Large, "small", spec.Small*spec.SmallVers)
	if err := writeSynthTree(ctx, dir, spec); err != nil {
		return nil, err
	}
	t := &tree{Name: "big", Dir: dir, Key: spec.key()}
	var err error
	if t.Stats, err = countTree(dir); err != nil {
		return nil, err
	}
	if err := saveReady(base, t); err != nil {
		return nil, err
	}
	return t, nil
}

// synthFile is an in-memory file for golang.org/x/mod/zip.
type synthFile struct {
	path string
	data []byte
}

func (f synthFile) Path() string                 { return f.path }
func (f synthFile) Lstat() (fs.FileInfo, error)  { return synthInfo{f}, nil }
func (f synthFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type synthInfo struct{ f synthFile }

func (i synthInfo) Name() string       { return filepath.Base(i.f.path) }
func (i synthInfo) Size() int64        { return int64(len(i.f.data)) }
func (i synthInfo) Mode() fs.FileMode  { return 0o644 }
func (i synthInfo) ModTime() time.Time { return time.Time{} }
func (i synthInfo) IsDir() bool        { return false }
func (i synthInfo) Sys() any           { return nil }

// synthRand returns a deterministic random source for one module version.
func synthRand(kind string, n, v int) *rand.ChaCha8 {
	var seed [32]byte
	copy(seed[:], kind)
	binary.LittleEndian.PutUint64(seed[16:], uint64(n))
	binary.LittleEndian.PutUint64(seed[24:], uint64(v))
	return rand.NewChaCha8(seed)
}

// writeSynthTree writes the tree of spec into dir.
func writeSynthTree(ctx context.Context, dir string, spec synthSpec) error {
	tmp := dir + ".tmp"
	if err := removeAll(tmp); err != nil {
		return err
	}
	for n := 0; n < spec.Large; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := fmt.Sprintf("gobundle.bench/synthetic/large%03d", n)
		rng := synthRand("large", n, 0)
		files := []synthFile{{path: "go.mod", data: []byte("module " + path + "\n\ngo 1.21\n")}}
		for i := 0; i < spec.LargeFiles; i++ {
			data := make([]byte, spec.FileSize)
			_, _ = rng.Read(data)
			files = append(files, synthFile{path: fmt.Sprintf("data/blob%02d.bin", i), data: data})
		}
		if err := writeSynthModule(tmp, path, "v1.0.0", files); err != nil {
			return err
		}
	}
	for n := 0; n < spec.Small; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := fmt.Sprintf("gobundle.bench/synthetic/small%04d", n)
		for v := 0; v < spec.SmallVers; v++ {
			rng := synthRand("small", n, v)
			files := []synthFile{
				{path: "go.mod", data: []byte("module " + path + "\n\ngo 1.21\n")},
				{path: "doc.go", data: []byte(fmt.Sprintf("// Package small%04d is generated.\npackage small%04d\n", n, n))},
			}
			for i := 0; i < 3; i++ {
				files = append(files, synthFile{path: fmt.Sprintf("f%d.go", i), data: synthGo(rng, n, i)})
			}
			if err := writeSynthModule(tmp, path, fmt.Sprintf("v1.%d.0", v), files); err != nil {
				return err
			}
		}
	}
	return os.Rename(tmp, dir)
}

// synthGo returns a small, compressible Go file with random constants.
func synthGo(rng *rand.ChaCha8, n, i int) []byte {
	var sb bytes.Buffer
	fmt.Fprintf(&sb, "package small%04d\n\n// Values%d are generated.\nvar Values%d = []uint64{\n", n, i, i)
	for k := 0; k < 64; k++ {
		fmt.Fprintf(&sb, "\t%#x,\n", rng.Uint64()>>(rng.Uint64()%48))
	}
	sb.WriteString("}\n")
	return sb.Bytes()
}

// writeSynthModule writes the .info, .mod, .zip and @v/list of one module
// version into the GOPROXY tree dir.
func writeSynthModule(dir, path, version string, files []synthFile) error {
	esc, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	vdir := filepath.Join(dir, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	info := fmt.Sprintf("{\"Version\":%q,\"Time\":\"2024-01-01T00:00:00Z\"}", version)
	if err := os.WriteFile(filepath.Join(vdir, version+".info"), []byte(info), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, version+".mod"), files[0].data, 0o644); err != nil {
		return err
	}
	zf, err := os.Create(filepath.Join(vdir, version+".zip"))
	if err != nil {
		return err
	}
	zfiles := make([]modzip.File, len(files))
	for i, f := range files {
		zfiles[i] = f
	}
	if err := modzip.Create(zf, module.Version{Path: path, Version: version}, zfiles); err != nil {
		zf.Close()
		return fmt.Errorf("%s@%s: %w", path, version, err)
	}
	if err := zf.Close(); err != nil {
		return err
	}
	lf, err := os.OpenFile(filepath.Join(vdir, "list"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(lf, version); err != nil {
		lf.Close()
		return err
	}
	return lf.Close()
}
