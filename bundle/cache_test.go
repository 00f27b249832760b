package bundle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// packCached packs src with the given cache and returns the bundle bytes
// and the writer's counters.
func packCached(t *testing.T, src, cache string) (data []byte, zipsRead, framesCompressed int64) {
	t.Helper()
	ctx := context.Background()
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir(), CacheDir: cache, FrameSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Pack(ctx, w, src, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.gobundle")
	if _, err := w.WriteFile(ctx, out); err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(ctx, bytes.NewReader(data), int64(len(data)), "b")
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Verify(ctx, nil); len(p) != 0 {
		t.Fatalf("cached bundle does not verify: %v", p)
	}
	return data, w.zipsRead.Load(), w.framesCompressed.Load()
}

func TestWriterCache(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleModules())
	plain, _, frames := packCached(t, src, "")
	if frames == 0 {
		t.Fatal("no frames compressed without a cache")
	}
	cache := t.TempDir()
	cold, zips, _ := packCached(t, src, cache)
	if zips != 7 || !bytes.Equal(cold, plain) {
		t.Fatalf("cold cached run: %d zips read, same bytes %v", zips, bytes.Equal(cold, plain))
	}
	warm, zips, frames := packCached(t, src, cache)
	if zips != 0 || frames != 0 {
		t.Fatalf("warm run read %d zips and compressed %d frames, want none", zips, frames)
	}
	if !bytes.Equal(warm, plain) {
		t.Fatal("warm run's bundle differs from an uncached one")
	}

	// Frames gone, analyses kept: content is read lazily from the zips.
	os.RemoveAll(filepath.Join(cache, "frames"))
	lazy, zips, frames := packCached(t, src, cache)
	if zips != 0 || frames == 0 || !bytes.Equal(lazy, plain) {
		t.Fatalf("lazy run: %d zips analysed, %d frames, same bytes %v", zips, frames, bytes.Equal(lazy, plain))
	}

	// Damaged cache entries are ignored, never copied into a bundle.
	filepath.Walk(cache, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 1
			os.WriteFile(p, data, 0o666)
		}
		return nil
	})
	damaged, _, frames := packCached(t, src, cache)
	if frames == 0 || !bytes.Equal(damaged, plain) {
		t.Fatalf("damaged cache: %d frames compressed, same bytes %v", frames, bytes.Equal(damaged, plain))
	}

	// One more module: only the frames whose content changed are compressed.
	mods := sampleModules()
	writeTree(t, src, []testModule{{path: "example.com/zzz", version: "v1.0.0", files: []testFile{{"z.go", []byte("package z\n")}}}})
	_, _, warmFrames := packCached(t, src, cache)
	_, _, allFrames := packCached(t, src, "")
	if warmFrames == 0 || warmFrames >= allFrames {
		t.Fatalf("after adding a module: %d frames compressed with the cache, %d without (%d modules before)", warmFrames, allFrames, len(mods))
	}
}

// TestAnalysisCacheManyFiles: a zip whose files outnumber the bytes that
// follow each file's record in the cached analysis (positions were once
// read as counts) is still taken from the cache.
func TestAnalysisCacheManyFiles(t *testing.T) {
	var files []testFile
	for i := range 300 {
		files = append(files, testFile{fmt.Sprintf("f%03d.go", i), []byte(fmt.Sprintf("package p // %d\n", i))})
	}
	src := t.TempDir()
	writeTree(t, src, []testModule{{path: "example.com/many", version: "v1.0.0", files: files}})
	mods, err := scanTree(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	var hashes []string
	for run := range 2 {
		w, err := NewWriter(WriterOptions{TempDir: t.TempDir(), CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		h, err := w.PrepareZip(context.Background(), mods[0].mv.Path, mods[0].mv.Version, mods[0].zip, "")
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
		if want := int64(1 - run); w.zipsRead.Load() != want {
			t.Errorf("run %d read %d zips, want %d", run, w.zipsRead.Load(), want)
		}
		w.Close()
	}
	if hashes[0] != hashes[1] {
		t.Errorf("cached hash %s, read %s", hashes[1], hashes[0])
	}
}
