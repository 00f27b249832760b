package sumdbstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gobundle/gobundle/bundle"
)

// hostileSumDB is a bundle whose checksum database entries are the named
// contents, signed with a key of its own for database db.
// A nil content is a tree head signed with that key and pad lines of
// unknown signatures; shared entries point at the blob of another.
func hostileSumDB(t *testing.T, db string, pad int, entries map[string][]byte, shared map[string]string) (*bundle.Reader, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, db)
	if err != nil {
		t.Fatal(err)
	}
	rb := &bundle.RawBundle{Meta: bundle.Meta{Properties: []bundle.Property{{Key: PropKey, Value: vkey}, {Key: PropName, Value: db}}}}
	var content []byte
	blobOf := map[string]int{}
	add := func(data []byte) int {
		rb.Blobs = append(rb.Blobs, bundle.RawBlob{Frame: 0, Offset: int64(len(content)), Size: int64(len(data))})
		content = append(content, data...)
		return len(rb.Blobs) - 1
	}
	names := make([]string, 0, len(entries)+len(shared))
	for n, data := range entries {
		if data == nil {
			data = signedHead(t, skey, 5, pad)
		}
		blobOf[n] = add(data)
		names = append(names, n)
	}
	for n, other := range shared {
		names = append(names, n)
		blobOf[n] = blobOf[other]
	}
	sort.Strings(names)
	for _, n := range names {
		rb.Extras = append(rb.Extras, bundle.RawExtra{Kind: Kind, Name: n, Blob: blobOf[n]})
	}
	rb.Frames = []bundle.RawFrame{{Content: content}}
	var buf bytes.Buffer
	if err := rb.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.NewReader(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), "crafted.gobundle")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, skey
}

// signedHead signs a tree head of size n and appends pad lines of
// signatures by keys nobody knows.
func signedHead(t *testing.T, skey string, n int64, pad int) []byte {
	t.Helper()
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: n}))}, signer)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pad {
		sig := make([]byte, 4+64)
		rand.Read(sig)
		msg = fmt.Appendf(msg, "— other%d.%s %s\n", i, strings.Repeat("x", 100), base64.StdEncoding.EncodeToString(sig))
	}
	return msg
}

// Finding 5: note.NewVerifier accepts "../" in a name, which unpack
// joined into a path.
func TestLoadRefusesEscapingDatabaseName(t *testing.T) {
	for _, db := range []string{"../escaped", "sum.test/../../x", "sum.test//x", "./x"} {
		r, _ := hostileSumDB(t, db, 0, map[string][]byte{db + "/latest": nil}, nil)
		_, err := Load(context.Background(), r, nil)
		if err == nil || !strings.Contains(err.Error(), "checksum database name") {
			t.Errorf("%s: Load = %v, want the name refused", db, err)
		}
		out := filepath.Join(t.TempDir(), "a", "b")
		if err := Unpack(context.Background(), &Store{Name: db, Tiles: NewTileSet()}, out); err == nil {
			t.Errorf("%s: Unpack wrote it", db)
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) > 1 {
			t.Errorf("%s: Unpack wrote beside its directory: %v", db, ents)
		}
	}
}

// Finding 2: a signed tree head with a megabyte of signature lines, and
// every record answer built as record + a copy of the head.
func TestLoadBoundsHeadsAndAnswers(t *testing.T) {
	ctx := context.Background()
	skey, _, _ := note.GenerateKey(rand.Reader, "sum.test")
	huge := signedHead(t, skey, 5, 12000)
	r, _ := hostileSumDB(t, "sum.test", 0, map[string][]byte{"sum.test/latest": huge}, nil)
	if _, err := Load(ctx, r, nil); err == nil || !strings.Contains(err.Error(), "sumdb sum.test/latest: ") || !strings.Contains(err.Error(), "more than 16384") {
		t.Fatalf("Load of a %d-byte head = %v, want it refused before reading", len(huge), err)
	}

	// The largest head allowed, and 5,000 records all pointing at one blob.
	const records = 5000
	entries := map[string][]byte{"sum.test/latest": nil, "sum.test/record/example.com/m@v1.0.0": []byte("1\nexample.com/m v1.0.0 h1:x\n\n")}
	shared := map[string]string{}
	for i := range records - 1 {
		shared[fmt.Sprintf("sum.test/record/example.com/m@v1.0.%d", i+1)] = "sum.test/record/example.com/m@v1.0.0"
	}
	r, _ = hostileSumDB(t, "sum.test", 70, entries, shared)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := Load(ctx, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUnion([]*Store{s}, []string{"crafted.gobundle"})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("%d records cost %d MiB of heap", records, grew>>20)
	}
	ans, ok := u.Lookup("example.com/m@v1.0.7")
	if !ok || !bytes.HasSuffix(ans, s.Latest.Note) || len(s.Latest.Note) < 12<<10 {
		t.Fatalf("lookup answer of %d bytes under a head of %d", len(ans), len(s.Latest.Note))
	}
	runtime.KeepAlive(u)
}
