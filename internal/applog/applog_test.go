package applog

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

func TestAppendRead(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.log")
	w := NewWriter(name)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := w.Append(fmt.Sprintf("k%d-%d", g, i), bytes.Repeat([]byte{byte(i)}, i*10)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	w.Append("k0-0", []byte("replaced"))
	w.Close()
	recs, err := Read(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 400 {
		t.Fatalf("%d records, want 400", len(recs))
	}
	if string(recs["k0-0"]) != "replaced" || !bytes.Equal(recs["k3-7"], bytes.Repeat([]byte{7}, 70)) {
		t.Fatalf("wrong values: %q %q", recs["k0-0"], recs["k3-7"])
	}
	if recs, err := Read(filepath.Join(t.TempDir(), "missing")); err != nil || len(recs) != 0 {
		t.Fatalf("missing log: %v, %d records", err, len(recs))
	}
}

// TestDamageSkipped: a damaged record is dropped, the records after it are
// kept, whatever byte is hit; a torn last record is dropped.
func TestDamageSkipped(t *testing.T) {
	var log []byte
	for i := range 3 {
		log = append(log, Encode(fmt.Sprint("key", i), []byte(fmt.Sprint("value number ", i)))...)
	}
	first := len(Encode("key0", []byte("value number 0")))
	for i := range first {
		bad := bytes.Clone(log)
		bad[i] ^= 0x40
		recs := Parse(bad)
		if string(recs["key1"]) != "value number 1" || string(recs["key2"]) != "value number 2" {
			t.Fatalf("byte %d flipped: later records lost: %q", i, recs)
		}
		if v, ok := recs["key0"]; ok && string(v) != "value number 0" {
			t.Fatalf("byte %d flipped: damaged record read as %q", i, v)
		}
	}
	for cut := range len(log) {
		recs := Parse(log[:cut])
		for k, v := range recs {
			if !bytes.HasPrefix([]byte(v), []byte("value number ")) {
				t.Fatalf("cut at %d: %s = %q", cut, k, v)
			}
		}
	}
	if len(Parse(append(bytes.Clone(log), "GBL1\xff\xff"...))) != 3 {
		t.Fatal("torn tail broke the log")
	}
}
