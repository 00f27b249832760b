package bundle

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/gobundle/gobundle/internal/testkit"
)

func openT(t testing.TB, name string) *Reader {
	t.Helper()
	r, err := Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func sigErr(t *testing.T, err error, want string) {
	t.Helper()
	var se *SignatureError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SignatureError", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestSignatures(t *testing.T) {
	ctx := context.Background()
	src, dir := t.TempDir(), t.TempDir()
	writeTree(t, src, sampleModules())
	builder, builderPub := testkit.NoteKey(t, "builder")
	officer, officerPub := testkit.NoteKey(t, "officer")
	_, otherPub := testkit.NoteKey(t, "other")
	opts := WriterOptions{Tool: "gobundle test", Inputs: []string{"example.com/app go.mod sha256:00", "with\nnewline"}, Mirrors: []string{"https://mirror.example"}}

	plain := filepath.Join(dir, "plain.gobundle")
	packTree(t, src, plain, opts)
	signedOpts := opts
	signedOpts.Signers = []note.Signer{builder}
	signed := filepath.Join(dir, "signed.gobundle")
	packTree(t, src, signed, signedOpts)

	rp, rs := openT(t, plain), openT(t, signed)
	if rp.Digest() != rs.Digest() {
		t.Fatalf("signing changed the digest: %s vs %s", rp.Digest(), rs.Digest())
	}
	text := rs.SignedText()
	for _, want := range []string{"digest sha256:" + rs.Digest().String() + "\n", "tool gobundle test\n", "created 1970-01-01T00:00:00Z\n",
		"input example.com/app go.mod sha256:00\n", `input "with\nnewline"` + "\n", "mirror https://mirror.example\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("signed text lacks %q:\n%s", want, text)
		}
	}
	if got, err := rs.CheckSignatures([]note.Verifier{otherPub, builderPub}, false); err != nil || len(got) != 1 || got[0].Name != "builder" {
		t.Fatalf("CheckSignatures = %v, %v", got, err)
	}
	_, err := rp.CheckSignatures([]note.Verifier{builderPub}, false)
	sigErr(t, err, "not signed")
	_, err = rs.CheckSignatures([]note.Verifier{otherPub}, false)
	sigErr(t, err, "signed only by keys not trusted here: builder+")

	// A second signature: both listed, digest and everything before the
	// signature block unchanged, well under 1 KiB added.
	before, _ := os.ReadFile(signed)
	added, err := SignFile(ctx, signed, officer)
	if err != nil || len(added) != 1 || added[0].Name != "officer" {
		t.Fatalf("SignFile = %v, %v", added, err)
	}
	after, _ := os.ReadFile(signed)
	end := rs.tr.sigOff
	if !bytes.Equal(before[:end], after[:end]) {
		t.Fatal("SignFile changed bytes before the signature block")
	}
	if d := len(after) - len(before); d <= 0 || d >= 1024 {
		t.Fatalf("second signature added %d bytes", d)
	}
	r2 := openT(t, signed)
	if r2.Digest() != rp.Digest() || len(r2.Signatures()) != 2 {
		t.Fatalf("after SignFile: digest %s, signatures %v", r2.Digest(), r2.Signatures())
	}
	if _, err := r2.CheckSignatures([]note.Verifier{builderPub, officerPub}, true); err != nil {
		t.Fatal(err)
	}
	_, err = r2.CheckSignatures([]note.Verifier{builderPub, otherPub}, true)
	sigErr(t, err, "missing other+")
	if _, err := SignFile(ctx, signed, officer); err == nil || !strings.Contains(err.Error(), "already signed by key officer+") {
		t.Fatalf("signing twice with one key: %v", err)
	}
	if problems := r2.Verify(ctx, nil); len(problems) > 0 {
		t.Fatal(problems)
	}

	// Rebuilt with other content and given the old signatures (an
	// attacker who recomputes every checksum): they no longer verify.
	mods := sampleModules()
	mods[0].files[2].data = []byte("package lib\n\nconst Version = \"evil\"\n")
	src2 := t.TempDir()
	writeTree(t, src2, mods)
	forged := filepath.Join(dir, "forged.gobundle")
	packTree(t, src2, forged, opts)
	graftSignatures(t, forged, r2.Signatures())
	rf := openT(t, forged)
	if rf.Digest() == r2.Digest() || len(rf.Signatures()) != 2 {
		t.Fatal("graft failed")
	}
	_, err = rf.CheckSignatures([]note.Verifier{builderPub}, false)
	sigErr(t, err, "does not verify: the bundle was changed after it was signed")
}

// graftSignatures puts sigs into the unsigned bundle file name.
func graftSignatures(t *testing.T, name string, sigs []Signature) {
	t.Helper()
	data, _ := os.ReadFile(name)
	r, err := NewReader(context.Background(), bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		t.Fatal(err)
	}
	tr := r.tr
	block := encodeSigBlock(sigs)
	tr.sigOff, tr.sigLen = tr.indexOff+tr.indexLen, int64(len(block))
	out := append(append(data[:tr.sigOff:tr.sigOff], block...), encodeTrailer(tr, data[:headerSize])...)
	if err := os.WriteFile(name, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSignedByteFlips flips every byte of a signed bundle: each is refused
// at open, by Verify, or by CheckSignatures.
func TestSignedByteFlips(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, sampleModules()[:4])
	signer, pub := testkit.NoteKey(t, "builder")
	out := filepath.Join(t.TempDir(), "b.gobundle")
	packTree(t, src, out, WriterOptions{FrameSize: 1 << 10, Signers: []note.Signer{signer}})
	good, _ := os.ReadFile(out)
	buf := make([]byte, len(good))
	for i := range good {
		copy(buf, good)
		buf[i] ^= 0x20
		r, err := NewReader(ctx, bytes.NewReader(buf), int64(len(buf)), "b")
		if err != nil {
			continue
		}
		_, sigErr := r.CheckSignatures([]note.Verifier{pub}, false)
		if sigErr == nil && len(r.Verify(ctx, nil)) == 0 {
			t.Fatalf("byte %d of %d flipped: signed bundle still verifies", i, len(good))
		}
	}
}

func TestSignatureBlockBounds(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, sampleModules()[:2])
	out := filepath.Join(t.TempDir(), "b.gobundle")
	packTree(t, src, out, WriterOptions{})
	data, _ := os.ReadFile(out)
	r, err := NewReader(ctx, bytes.NewReader(data), int64(len(data)), "b")
	if err != nil {
		t.Fatal(err)
	}
	withBlock := func(block []byte, claim int64) []byte {
		tr := r.tr
		tr.sigOff, tr.sigLen = tr.indexOff+tr.indexLen, claim
		body := append(append([]byte(nil), data[:tr.sigOff]...), block...)
		return append(body, encodeTrailer(tr, data[:headerSize])...)
	}
	signer, _ := testkit.NoteKey(t, "k")
	one, err := sign(r.SignedText(), nil, []note.Signer{signer})
	if err != nil {
		t.Fatal(err)
	}
	many := make([]Signature, MaxSignatures+1)
	for i := range many {
		s, _ := testkit.NoteKey(t, "k"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26)))
		sig, err := sign(r.SignedText(), nil, []note.Signer{s})
		if err != nil {
			t.Fatal(err)
		}
		many[i] = sig[0]
	}
	huge := bytes.Repeat([]byte{0}, maxSigBlock+1)
	cases := map[string][]byte{
		"block over the size bound":  withBlock(huge, int64(len(huge))),
		"more signatures than bound": withBlock(encodeSigBlock(many), int64(len(encodeSigBlock(many)))),
		"bad magic":                  withBlock([]byte("XXXX\x01\x00"), 6),
		"one signature twice":        withBlock(encodeSigBlock([]Signature{one[0], one[0]}), int64(len(encodeSigBlock([]Signature{one[0], one[0]})))),
		"count beyond bytes":         withBlock([]byte("GBSG\x01\x7f"), 6),
		"trailing bytes":             withBlock(append(encodeSigBlock(one), 0), int64(len(encodeSigBlock(one))+1)),
		"not a signature line":       withBlock(encodeSigBlock([]Signature{{line: "- k AAAA"}}), int64(len(encodeSigBlock([]Signature{{line: "- k AAAA"}})))),
	}
	for name, b := range cases {
		if _, err := NewReader(ctx, bytes.NewReader(b), int64(len(b)), "b"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: open = %v, want ErrCorrupt", name, err)
		}
	}
	ok := withBlock(encodeSigBlock(one), int64(len(encodeSigBlock(one))))
	if _, err := NewReader(ctx, bytes.NewReader(ok), int64(len(ok)), "b"); err != nil {
		t.Fatalf("well-formed block refused: %v", err)
	}
}
