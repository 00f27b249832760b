package serve

import (
	"context"

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
// signed as they require is closed again and refused with a
// *bundle.SignatureError.
func openReader(ctx context.Context, name string, cacheBytes int64, keys []note.Verifier, requireAll bool) (source, error) {
	r, err := bundle.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		if _, err := r.CheckSignatures(keys, requireAll); err != nil {
			r.Close()
			return nil, err
		}
	}
	if cacheBytes > 0 {
		r.SetCacheBytes(cacheBytes)
	}
	return readerSource{r}, nil
}
