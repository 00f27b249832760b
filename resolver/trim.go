package resolver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/gobundle/gobundle/internal/fsutil"
)

// TrimStats says what TrimCache did.
type TrimStats struct {
	Before       int64 `json:"before"` // bytes of every file under the cache directory
	After        int64 `json:"after"`
	Removed      int   `json:"removed"` // downloads removed
	RemovedBytes int64 `json:"removed_bytes"`
}

// TrimCache bounds the download cache in dir: while the files under dir
// take more than max bytes, it removes the least recently used download
// (a module zip, or another file kept under blobs/; create marks each one
// it uses). Nothing else is touched: keys.log, small.log and the key
// files stay as they are, and a key whose download is gone is simply a
// miss for the next run, which fetches the file again. What is not a
// download (the logs, keys, the checksum database client state, the
// frames cache of the bundle writer) counts in the size but stays, so
// After may still exceed max.
//
// A concurrent create may lose a download it is about to read; it is the
// least recently used, so that is unlikely, and the create then fails
// with an error naming the file and can be run again.
func TrimCache(ctx context.Context, dir string, max int64) (TrimStats, error) {
	type blob struct {
		path string
		size int64
		used int64 // modification time, UnixNano: the last use
	}
	var st TrimStats
	var blobs []blob
	blobDir := filepath.Join(dir, "blobs")
	err := fsutil.WalkFiles(dir, func(p string, info fs.FileInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		st.Before += info.Size()
		if filepath.Dir(filepath.Dir(filepath.Dir(p))) == blobDir && isHexSHA256(info.Name()) {
			blobs = append(blobs, blob{p, info.Size(), info.ModTime().UnixNano()})
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("download cache %s: %w", dir, err)
	}
	slices.SortFunc(blobs, func(a, b blob) int {
		return cmp.Or(cmp.Compare(a.used, b.used), cmp.Compare(a.path, b.path))
	})
	st.After = st.Before
	for _, b := range blobs {
		if st.After <= max {
			break
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := os.Remove(b.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return st, fmt.Errorf("download cache: %w", err)
		}
		st.After -= b.size
		st.Removed++
		st.RemovedBytes += b.size
	}
	return st, nil
}
