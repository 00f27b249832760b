package bundle

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Signatures (docs/FORMAT.md, "Signature block").
//
// A signature is a golang.org/x/mod/sumdb/note signature (Ed25519, the
// checksum database's key format) of the bundle's signed text: the bundle
// digest and the metadata a reader shows (SignedText). The block between
// index and trailer keeps only the signature lines; the text is derived
// from the index again on every check, so a bundle whose index changed
// after signing (a different digest) has signatures that no longer verify,
// and adding a signature never changes the digest.
const (
	sigMagic = "GBSG"
	// MaxSignatures bounds the signatures of one bundle: the most
	// golang.org/x/mod/sumdb/note reads in one note.
	MaxSignatures = 100
	// maxSigBlock bounds the signature block's size, checked against the
	// trailer before the block is read: 100 signature lines of at most
	// about 600 bytes each.
	maxSigBlock = 64 << 10
	// maxSigLine bounds one signature line: "— " name " " base64(4-byte
	// key hash + signature), an Ed25519 line is about 100 bytes.
	maxSigLine = 600
	// minSigBytes is the shortest encoded line: its length, "— ", a
	// one-byte name, a space and 8 base64 bytes.
	minSigBytes = 1 + 4 + 1 + 1 + 8
	sigPrefix   = "— "
	signedTitle = "gobundle signed bundle v1"
)

// Signature is one signature in a bundle's signature block.
type Signature struct {
	Name    string `json:"name"`     // the signer's key name
	KeyHash uint32 `json:"key_hash"` // the key's hash, as note keys carry it
	line    string // "— name base64", as note writes it, without newline
}

// String names the signature as note keys do: name+hash (hex).
func (s Signature) String() string { return fmt.Sprintf("%s+%08x", s.Name, s.KeyHash) }

// SignedText returns the text that signatures of a bundle with digest d and
// metadata m sign: a title line, the digest, then the tool, creation time,
// inputs and mirrors, one a line. Values that note text cannot hold as they
// are (control characters, invalid UTF-8, a leading quote) are Go-quoted.
func SignedText(d Sum, m Meta) string {
	var b strings.Builder
	line := func(k, v string) {
		b.WriteString(k)
		b.WriteByte(' ')
		b.WriteString(noteValue(v))
		b.WriteByte('\n')
	}
	b.WriteString(signedTitle + "\n")
	line("digest", "sha256:"+d.String())
	line("tool", m.Tool)
	line("created", m.Created.UTC().Format(time.RFC3339))
	for _, s := range m.Inputs {
		line("input", s)
	}
	for _, s := range m.Mirrors {
		line("mirror", s)
	}
	return b.String()
}

// noteValue returns s, or s Go-quoted when note text could not hold it
// unchanged or a reader could take it for a quoted value.
func noteValue(s string) string {
	ok := utf8.ValidString(s) && !strings.HasPrefix(s, `"`)
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			ok = false
		}
	}
	if ok {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// SignedText returns the text this bundle's signatures sign.
func (r *Reader) SignedText() string { return SignedText(r.Digest(), r.Meta()) }

// Signatures returns the bundle's signatures in block order, unverified:
// use CheckSignatures to trust them.
func (r *Reader) Signatures() []Signature { return append([]Signature(nil), r.sigs...) }

// SignatureError reports why a bundle is not signed as required. Found
// lists the signatures the bundle holds, whatever their keys.
type SignatureError struct {
	Bundle string
	Reason string
	Found  []Signature
}

func (e *SignatureError) Error() string { return e.Bundle + ": " + e.Reason }

// CheckSignatures checks the bundle's signatures against trusted verifier
// keys. With requireAll false one good signature by a trusted key is
// enough; with it, every trusted key must have signed. It returns the
// trusted signatures that verify, or a *SignatureError naming why not: an
// unsigned bundle, one signed only by other keys (naming them), a
// signature by a trusted key that does not verify (the bundle changed
// after it was signed), or a trusted key missing under requireAll.
//
// It reads only the index and the signature block: that the frames hold
// what the index says is what Verify (and every read) checks.
func (r *Reader) CheckSignatures(trusted []note.Verifier, requireAll bool) ([]Signature, error) {
	fail := func(format string, args ...any) error {
		return &SignatureError{Bundle: r.name, Reason: fmt.Sprintf(format, args...), Found: r.Signatures()}
	}
	if len(trusted) == 0 {
		return nil, errors.New("no trusted keys given")
	}
	if len(r.sigs) == 0 {
		return nil, fail("not signed: it has no signatures (sign it with gobundle sign, or create --sign)")
	}
	var msg bytes.Buffer
	msg.WriteString(r.SignedText())
	msg.WriteByte('\n')
	for _, s := range r.sigs {
		msg.WriteString(s.line)
		msg.WriteByte('\n')
	}
	n, err := note.Open(msg.Bytes(), note.VerifierList(dedupVerifiers(trusted)...))
	var inv *note.InvalidSignatureError
	var unv *note.UnverifiedNoteError
	switch {
	case errors.As(err, &inv):
		return nil, fail("signature by %s+%08x does not verify: the bundle was changed after it was signed (its digest is sha256:%s)", inv.Name, inv.Hash, r.Digest())
	case errors.As(err, &unv):
		return nil, fail("signed only by keys not trusted here: %s (trusted: %s)", sigNames(r.sigs), verifierNames(trusted))
	case err != nil:
		return nil, fail("signatures: %v", err)
	}
	good := make(map[string]bool)
	var out []Signature
	for _, s := range n.Sigs {
		good[Signature{Name: s.Name, KeyHash: s.Hash}.String()] = true
		out = append(out, Signature{Name: s.Name, KeyHash: s.Hash, line: sigPrefix + s.Name + " " + s.Base64})
	}
	if requireAll {
		var missing []string
		for _, v := range dedupVerifiers(trusted) {
			if id := (Signature{Name: v.Name(), KeyHash: v.KeyHash()}).String(); !good[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return nil, fail("not signed by every trusted key (--require-all): missing %s; signed by %s", strings.Join(missing, ", "), sigNames(r.sigs))
		}
	}
	return out, nil
}

func dedupVerifiers(vs []note.Verifier) []note.Verifier {
	seen := make(map[string]bool)
	var out []note.Verifier
	for _, v := range vs {
		id := Signature{Name: v.Name(), KeyHash: v.KeyHash()}.String()
		if !seen[id] {
			seen[id] = true
			out = append(out, v)
		}
	}
	return out
}

func sigNames(sigs []Signature) string {
	s := make([]string, len(sigs))
	for i, x := range sigs {
		s[i] = x.String()
	}
	return strings.Join(s, ", ")
}

func verifierNames(vs []note.Verifier) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = Signature{Name: v.Name(), KeyHash: v.KeyHash()}.String()
	}
	return strings.Join(s, ", ")
}

// sign returns the signatures of signers over text, refusing a key that
// signed already (in have or twice among signers) and more than
// MaxSignatures in all.
func sign(text string, have []Signature, signers []note.Signer) ([]Signature, error) {
	seen := make(map[string]bool)
	for _, s := range have {
		seen[s.String()] = true
	}
	var out []Signature
	for _, sg := range signers {
		id := Signature{Name: sg.Name(), KeyHash: sg.KeyHash()}.String()
		if seen[id] {
			return nil, fmt.Errorf("already signed by key %s", id)
		}
		seen[id] = true
		msg, err := note.Sign(&note.Note{Text: text}, sg)
		if err != nil {
			return nil, fmt.Errorf("signing with key %s: %w", id, err)
		}
		line := strings.TrimSuffix(string(msg[len(text)+1:]), "\n")
		s, err := parseSigLine(line)
		if err != nil {
			return nil, fmt.Errorf("signing with key %s: %w", id, err)
		}
		out = append(out, s)
	}
	if len(have)+len(out) > MaxSignatures {
		return nil, fmt.Errorf("a bundle holds at most %d signatures", MaxSignatures)
	}
	return out, nil
}

// parseSigLine checks one signature line as note writes it.
func parseSigLine(line string) (Signature, error) {
	bad := func(why string) (Signature, error) {
		return Signature{}, fmt.Errorf("malformed signature line %q: %s", line, why)
	}
	if len(line) > maxSigLine {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(line, sigPrefix)
	if !ok {
		return bad("no signature prefix")
	}
	name, b64, ok := strings.Cut(rest, " ")
	if !ok || name == "" || strings.ContainsAny(name, "+ \n") || !utf8.ValidString(name) {
		return bad("bad key name")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return bad("bad key name")
		}
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < 5 || base64.StdEncoding.EncodeToString(raw) != b64 {
		return bad("bad base64 signature")
	}
	return Signature{Name: name, KeyHash: binary.BigEndian.Uint32(raw), line: line}, nil
}

// encodeSigBlock returns the signature block holding sigs, or nil for none.
func encodeSigBlock(sigs []Signature) []byte {
	if len(sigs) == 0 {
		return nil
	}
	e := &encoder{}
	e.b = append(e.b, sigMagic...)
	e.uvarint(1)
	e.uvarint(uint64(len(sigs)))
	for _, s := range sigs {
		e.str(s.line)
	}
	return e.b
}

// decodeSigBlock parses a signature block whose size the trailer bounded.
func decodeSigBlock(b []byte) ([]Signature, error) {
	d := &decoder{b: b}
	if string(d.bytes(len(sigMagic))) != sigMagic {
		return nil, fmt.Errorf("signature block: bad magic: %w", ErrCorrupt)
	}
	if v := d.uvarint(); d.err == nil && v != 1 {
		return nil, fmt.Errorf("signature block: version %d is not supported by this gobundle: %w", v, ErrUnsupported)
	}
	n := d.count(minSigBytes)
	if d.err == nil && (n == 0 || n > MaxSignatures) {
		return nil, fmt.Errorf("signature block: %d signatures (want 1 to %d): %w", n, MaxSignatures, ErrCorrupt)
	}
	sigs := make([]Signature, 0, n)
	seen := make(map[string]bool)
	for range n {
		line := d.str()
		if d.err != nil {
			break
		}
		s, err := parseSigLine(line)
		if err != nil {
			return nil, fmt.Errorf("signature block: %v: %w", err, ErrCorrupt)
		}
		if seen[s.line] {
			return nil, fmt.Errorf("signature block: signature by %s listed twice: %w", s, ErrCorrupt)
		}
		seen[s.line] = true
		sigs = append(sigs, s)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(errors.New("bytes after the last signature"))
	}
	if d.err != nil {
		return nil, fmt.Errorf("signature block: %v: %w", d.err, ErrCorrupt)
	}
	return sigs, nil
}

// SignFile adds signatures by signers to the bundle file name, through a
// temporary file in the same directory renamed into place: the index, and
// so the digest, stay as they are. A key that signed the bundle already
// is refused. The bundle's frames are copied, not re-read through the
// index; Verify checks them.
func SignFile(ctx context.Context, name string, signers ...note.Signer) ([]Signature, error) {
	if len(signers) == 0 {
		return nil, errors.New("no signing key given")
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r, err := NewReader(ctx, f, st.Size(), name)
	if err != nil {
		return nil, err
	}
	added, err := sign(r.SignedText(), r.sigs, signers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	tr := r.tr
	tr.sigOff = tr.indexOff + tr.indexLen
	block := encodeSigBlock(append(r.Signatures(), added...))
	tr.sigLen = int64(len(block))
	header := make([]byte, headerSize)
	if _, err := f.ReadAt(header, 0); err != nil {
		return nil, err
	}
	err = writeFileAtomic(name, st.Mode().Perm(), func(out *os.File) error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		// A LimitedReader of an *os.File lets the kernel copy the bytes
		// (copy_file_range) where it can.
		if n, err := io.Copy(out, &io.LimitedReader{R: f, N: tr.sigOff}); err != nil || n != tr.sigOff {
			return fmt.Errorf("copying %s: %d of %d bytes: %v", name, n, tr.sigOff, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := out.Write(block); err != nil {
			return err
		}
		_, err := out.Write(encodeTrailer(tr, header))
		return err
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// writeFileAtomic writes name through a temporary file beside it, synced
// and renamed into place only when write succeeded.
func writeFileAtomic(name string, perm os.FileMode, write func(*os.File) error) error {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	ok = true
	return nil
}
