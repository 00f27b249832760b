package testkit

import (
	"crypto/rand"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// NoteKey returns a new golang.org/x/mod note key pair for name, as
// `gobundle keygen` makes them: the signer and its verifier. It fails t
// if x/mod refuses the name.
func NoteKey(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}
