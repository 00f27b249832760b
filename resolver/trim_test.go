package resolver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTrimCacheLeastRecentlyUsed fills a download cache with three zips and
// a small file, uses the oldest zip, and trims: the two least recently used
// zips go, the logs stay byte for byte, and a removed zip is a plain miss
// that the next fetch fills again.
func TestTrimCacheLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := newBlobCache(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	putZip := func(c *blobCache, name string) Fetched {
		t.Helper()
		data := bytes.Repeat([]byte(name), 1000)
		tmp, err := c.tempFile()
		if err != nil {
			t.Fatal(err)
		}
		tmp.Write(data)
		tmp.Close()
		s := sha256.Sum256(data)
		f, err := c.put(ctx, tmp.Name(), "example.com/"+name, "v1.0.0", "zip", hex.EncodeToString(s[:]), int64(len(data)), "test")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	zips := map[string]Fetched{}
	for i, name := range []string{"a", "b", "c"} {
		zips[name] = putZip(c, name)
		// a was used 3 hours ago, b 2 hours ago, c 1 hour ago.
		old := time.Now().Add(-time.Duration(3-i) * time.Hour)
		if err := os.Chtimes(zips[name].File, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.putData(ctx, []byte(`{"Version":"v1.0.0"}`), "example.com/a", "v1.0.0", "info", "test"); err != nil {
		t.Fatal(err)
	}
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	logs := map[string][]byte{}
	for _, name := range []string{"keys.log", "small.log"} {
		if logs[name], err = os.ReadFile(filepath.Join(dir, name)); err != nil || len(logs[name]) == 0 {
			t.Fatalf("%s: %v, %d bytes", name, err, len(logs[name]))
		}
	}

	// A later create uses a: it becomes the most recently used.
	c2, err := newBlobCache(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.get(ctx, "example.com/a", "v1.0.0", "zip"); !ok {
		t.Fatal("zip a: miss before trimming")
	}
	c2.close()

	before, err := TrimCache(ctx, dir, 1<<40)
	if err != nil || before.Removed != 0 || before.After != before.Before {
		t.Fatalf("trim under the bound: %+v, %v; want nothing removed", before, err)
	}
	// Room for everything but 1500 bytes: removing b leaves 500 too many,
	// removing c too is enough.
	st, err := TrimCache(ctx, dir, before.Before-1500)
	if err != nil {
		t.Fatal(err)
	}
	if st.Removed != 2 || st.RemovedBytes != 2000 || st.After != st.Before-2000 || st.Before != before.Before {
		t.Errorf("trim: %+v; want b and c (2000 bytes) removed from %d", st, before.Before)
	}
	for name, want := range map[string]bool{"a": true, "b": false, "c": false} {
		if _, err := os.Stat(zips[name].File); (err == nil) != want {
			t.Errorf("zip %s: kept %v, want %v", name, err == nil, want)
		}
	}
	for name, data := range logs {
		if got, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(got, data) {
			t.Errorf("%s changed by trimming", name)
		}
	}

	c3, err := newBlobCache(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.close()
	if _, ok := c3.get(ctx, "example.com/b", "v1.0.0", "zip"); ok {
		t.Error("zip b: hit after it was removed")
	}
	if _, ok := c3.get(ctx, "example.com/a", "v1.0.0", "zip"); !ok {
		t.Error("zip a: miss, but it was kept")
	}
	if _, ok := c3.get(ctx, "example.com/a", "v1.0.0", "info"); !ok {
		t.Error(".info of a: miss after trimming (the logs must stay)")
	}
	putZip(c3, "b")
	if f, ok := c3.get(ctx, "example.com/b", "v1.0.0", "zip"); !ok || f.Size != 1000 {
		t.Errorf("zip b fetched again: %+v, %v", f, ok)
	}
}
