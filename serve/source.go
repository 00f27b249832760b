package serve

import (
	"context"
	"io"

	"github.com/gobundle/gobundle/bundle"
)

// source is what the server needs of an opened bundle. *bundle.Reader
// provides it through bundleSource; tests use an in-memory double.
type source interface {
	Name() string
	Modules() []bundle.Module
	OpenFile(ctx context.Context, path, version string, kind bundle.FileKind) (file, error)
	// WriteZip writes the zip as served, as [bundle.Reader.WriteZip].
	WriteZip(ctx context.Context, path, version string, w io.Writer) (bundle.FileInfo, error)
	Close() error
}

// file is one opened module file. Every Read and ReadAt returns only bytes
// already checked against the bundle's checksums; corrupt content gives an
// error wrapping bundle.ErrCorrupt.
type file interface {
	io.ReadSeeker
	io.ReaderAt
	io.Closer
	Size() int64
}

// openFunc opens the bundle file at name.
type openFunc func(ctx context.Context, name string) (source, error)
