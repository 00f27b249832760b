package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress draws the progress of one long phase: a progressbar on a
// terminal, a plain line every few seconds otherwise, nothing with --quiet.
// Packages only emit events; this is the one place that draws them.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	label string
	tty   bool
	quiet bool
	bar   *progressbar.ProgressBar
	total int64
	last  time.Time
	done  int64
	bytes bool
}

// newProgress starts a phase named label; bytes says Done/Total count bytes.
func (e *env) newProgress(label string, bytes bool) *progress {
	return &progress{out: e.stderr, label: label, tty: e.isTTY, quiet: e.quiet, bytes: bytes}
}

// Update reports done of total (total 0 if unknown) and the current item.
func (p *progress) Update(done, total int64, item string) {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = done
	if p.tty {
		if p.bar == nil || total != p.total {
			p.total = total
			max := total
			if max == 0 {
				max = -1
			}
			opts := []progressbar.Option{
				progressbar.OptionSetWriter(p.out),
				progressbar.OptionSetDescription(p.label),
				progressbar.OptionShowCount(),
				progressbar.OptionThrottle(100 * time.Millisecond),
				progressbar.OptionClearOnFinish(),
			}
			if p.bytes {
				opts = append(opts, progressbar.OptionShowBytes(true))
			}
			if p.bar != nil {
				p.bar.Exit()
			}
			p.bar = progressbar.NewOptions64(max, opts...)
		}
		p.bar.Set64(done)
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 2*time.Second && (total == 0 || done < total) {
		return
	}
	p.last = now
	switch {
	case total > 0 && p.bytes:
		fmt.Fprintf(p.out, "%s: %s of %s\n", p.label, humanBytes(done), humanBytes(total))
	case total > 0:
		fmt.Fprintf(p.out, "%s: %d/%d %s\n", p.label, done, total, item)
	default:
		fmt.Fprintf(p.out, "%s: %d %s\n", p.label, done, item)
	}
}

// Finish ends the phase and clears its bar.
func (p *progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
