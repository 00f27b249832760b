package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/gobundle/gobundle/internal/fsutil"
)

// heapPeakProfile writes a heap profile to file each time the live heap
// (as of the last garbage collection) passes its highest value so far by
// 5 %, so that the file ends up holding the profile of the peak, which a
// profile taken at exit (after the writer let go of everything) does not
// show. It samples every 200 ms until ctx is done, then returns the
// highest live heap seen.
func heapPeakProfile(ctx context.Context, file string) (stop func() (uint64, error)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var peak uint64
	var werr error
	go func() {
		defer close(done)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		var written uint64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			live := sample[0].Value.Uint64()
			peak = max(peak, live)
			if live < written+written/20 || live == 0 {
				continue
			}
			var buf bytes.Buffer
			if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
				werr = err
				return
			}
			if err := fsutil.WriteFileAtomic(file, buf.Bytes()); err != nil {
				werr = err
				return
			}
			written = live
		}
	}()
	return func() (uint64, error) {
		cancel()
		<-done
		if werr != nil {
			return peak, fmt.Errorf("--memprofile: %w", werr)
		}
		return peak, nil
	}
}
