package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode"

	"golang.org/x/mod/sumdb/note"

	"github.com/gobundle/gobundle/bundle"
)

// KeygenCmd is `gobundle keygen`.
type KeygenCmd struct {
	Name string `arg:"" help:"Key name, recorded in every signature (letters, digits, dots, dashes; no spaces or '+'), such as ci.example.com or alice."`
	Dir  string `default:"." type:"path" help:"Directory to write NAME.key and NAME.pub into (made if missing)."`
}

func (c *KeygenCmd) Run(e *env) error {
	if err := checkKeyName(c.Name); err != nil {
		return usageError{fmt.Errorf("keygen: %w", err)}
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, c.Name)
	if err != nil {
		return err
	}
	priv := filepath.Join(c.Dir, c.Name+".key")
	pub := filepath.Join(c.Dir, c.Name+".pub")
	for _, f := range []string{priv, pub} {
		if _, err := os.Lstat(f); err == nil {
			return fmt.Errorf("keygen: %s exists; not overwriting a key (remove it first if you mean to replace it)", f)
		}
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	// O_EXCL: a key file that appeared meanwhile is never overwritten.
	if err := writeNewFile(priv, skey+"\n", 0o600); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := writeNewFile(pub, vkey+"\n", 0o644); err != nil {
		os.Remove(priv)
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(e.stdout, "wrote %s (signer key, keep it secret) and %s (verifier key: give it to whoever checks your bundles)\n", priv, pub)
	fmt.Fprintf(e.stdout, "verifier key: %s\n", vkey)
	return nil
}

// checkKeyName accepts names that note keys hold and that are a plain
// file name.
func checkKeyName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("key name %q: want a name such as ci.example.com", name)
	case strings.ContainsAny(name, "+/\\:") || strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("key name %q: no spaces, '+', '/', '\\' or ':'", name)
	}
	return nil
}

// writeNewFile creates name with data and mode perm, failing if it exists.
func writeNewFile(name, data string, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists; not overwriting a key", name)
		}
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// SignCmd is `gobundle sign`.
type SignCmd struct {
	File string   `arg:"" help:"Bundle file to sign." type:"path"`
	Key  []string `required:"" placeholder:"NAME.key" help:"Signer key file from gobundle keygen (repeatable)."`
}

func (c *SignCmd) Run(e *env) error {
	signers, err := readSigners(e, c.Key)
	if err != nil {
		return err
	}
	added, err := bundle.SignFile(e.ctx, c.File, signers...)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no such bundle file", c.File)
	}
	if err != nil {
		return err
	}
	r, err := openBundle(e.ctx, c.File)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, s := range added {
		fmt.Fprintf(e.stdout, "%s: signed by %s\n", c.File, s)
	}
	fmt.Fprintf(e.stdout, "%s: index digest sha256:%s (unchanged); %s: %s\n", c.File, r.Digest(),
		plural(len(r.Signatures()), "signature", "signatures"), signerList(r.Signatures()))
	return nil
}

// signFlag is --sign of create and pack.
type signFlag struct {
	Sign []string `placeholder:"NAME.key" help:"Sign the bundle with this signer key from gobundle keygen (repeatable); verify --key and serve --key check it. Example: --sign ci.key"`
}

// signers reads the --sign keys; nil when none were given.
func (f signFlag) signers(e *env) ([]note.Signer, error) {
	if len(f.Sign) == 0 {
		return nil, nil
	}
	return readSigners(e, f.Sign)
}

// readSigners reads signer key files, warning about one that others can
// read.
func readSigners(e *env, files []string) ([]note.Signer, error) {
	var out []note.Signer
	for _, name := range files {
		data, err := readKeyFile(name)
		if err != nil {
			return nil, err
		}
		s, err := note.NewSigner(data)
		if err != nil {
			if _, verr := note.NewVerifier(data); verr == nil {
				return nil, usageError{fmt.Errorf("key %s is a verifier (public) key; signing needs the NAME.key file", name)}
			}
			return nil, usageError{fmt.Errorf("key %s: not a signer key from gobundle keygen: %v", name, err)}
		}
		if st, err := os.Stat(name); err == nil && runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(e.stderr, "gobundle: warning: signer key %s can be read by others (mode %04o); chmod 600 it\n", name, st.Mode().Perm())
		}
		out = append(out, s)
	}
	return out, nil
}

// trustFlags are --key and --require-all of verify and serve.
type trustFlags struct {
	Key        []string `placeholder:"NAME.pub" help:"Trust bundles signed by this verifier key: a NAME.pub file from gobundle keygen, or the key itself (repeatable; one good signature by any of them suffices). Every byte of the bundle is checked too (serve does it once, when it opens the bundle). Example: --key ci.pub"`
	RequireAll bool     `name:"require-all" help:"With several --key, require a good signature by every one of them."`
}

// verifiers reads the --key keys; nil when none were given.
func (f trustFlags) verifiers(cmd string) ([]note.Verifier, error) {
	if f.RequireAll && len(f.Key) == 0 {
		return nil, usageError{fmt.Errorf("%s: --require-all needs --key", cmd)}
	}
	var out []note.Verifier
	for _, k := range f.Key {
		data := k
		if _, err := os.Stat(k); err == nil || strings.Count(k, "+") < 2 {
			if data, err = readKeyFile(k); err != nil {
				return nil, err
			}
		}
		v, err := note.NewVerifier(data)
		if err != nil {
			if _, serr := note.NewSigner(data); serr == nil {
				return nil, usageError{fmt.Errorf("%s: --key %s is a signer (private) key; give its NAME.pub file", cmd, k)}
			}
			return nil, usageError{fmt.Errorf("%s: --key %s: not a verifier key from gobundle keygen: %v", cmd, k, err)}
		}
		out = append(out, v)
	}
	return out, nil
}

// readKeyFile reads a key file of one line, bounded: a key is about 100
// bytes.
func readKeyFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", usageError{fmt.Errorf("key file %s does not exist", name)}
		}
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", err
	}
	if len(data) > 4096 {
		return "", usageError{fmt.Errorf("key file %s: too large for a key", name)}
	}
	return strings.TrimSpace(string(data)), nil
}

// signerList names signatures for output, "none" without.
func signerList(sigs []bundle.Signature) string {
	if len(sigs) == 0 {
		return "none"
	}
	s := make([]string, len(sigs))
	for i, x := range sigs {
		s[i] = x.String()
	}
	return strings.Join(s, ", ")
}

// signatureLine is inspect's line about the signatures.
func signatureLine(sigs []bundle.Signature) string {
	if len(sigs) == 0 {
		return "none (unsigned)"
	}
	return signerList(sigs) + " (not checked here: verify --key checks them)"
}

// checkTrusted checks r's signatures against the --key keys, if any.
func checkTrusted(r *bundle.Reader, trusted []note.Verifier, requireAll bool) ([]bundle.Signature, error) {
	if len(trusted) == 0 {
		return nil, nil
	}
	return r.CheckSignatures(trusted, requireAll)
}
