package serve

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/gobundle/gobundle/bundle"
)

// readerSource serves a *bundle.Reader.
type readerSource struct{ *bundle.Reader }

func (r readerSource) OpenFile(ctx context.Context, path, version string, kind bundle.FileKind) (file, error) {
	f, err := r.Reader.OpenFile(ctx, path, version, kind)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// openReader opens a bundle file with the bundle package; cacheBytes, if
// not 0, bounds its frame cache. With trusted keys, a bundle that is not
// signed as they require, or whose bytes do not all match its signed index
// (checked once, here: a full verify), is closed again and refused with a
// *bundle.SignatureError.
func openReader(ctx context.Context, name string, cacheBytes int64, keys []note.Verifier, requireAll bool) (source, error) {
	r, err := bundle.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		if err := checkSigned(ctx, r, keys, requireAll); err != nil {
			r.Close()
			return nil, err
		}
	}
	if cacheBytes > 0 {
		r.SetCacheBytes(cacheBytes)
	}
	return readerSource{r}, nil
}

// checkSigned checks that r is signed by the trusted keys and that every
// byte of it matches the index the signatures cover: a byte changed
// without its checksums leaves the signature valid, and would otherwise be
// found only when a client asks for it.
func checkSigned(ctx context.Context, r *bundle.Reader, keys []note.Verifier, requireAll bool) error {
	if _, err := r.CheckSignatures(keys, requireAll); err != nil {
		return err
	}
	problems := r.Verify(ctx, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(problems) == 0 {
		return nil
	}
	reason := fmt.Sprintf("signed, but its content does not match its signed index (changed after signing): %v", problems[0])
	if len(problems) > 1 {
		reason += fmt.Sprintf(" and %d more", len(problems)-1)
	}
	return &bundle.SignatureError{Bundle: r.Name(), Reason: reason, Found: r.Signatures()}
}
