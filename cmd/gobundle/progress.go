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
//
// On a terminal the bar is made once per phase and never goes backwards:
// a total that grows as work is found (the resolver's) lowers no shown
// fraction, which waits for the count to catch up instead. The count and
// its rate (KiB/MiB for bytes) lead the line, the bar's own ETA ends it,
// and the whole fits 80 columns.
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	label string
	tty   bool
	quiet bool
	bytes bool
	now   func() time.Time

	bar   *progressbar.ProgressBar
	known bool  // the bar has a known total (else it spins)
	shown int64 // per mille shown, never decreasing
	start time.Time
	last  time.Time
	drawn time.Time // terminal: last redraw
}

// progressWidth is the bar's width; with the description and the times
// a line stays within 80 columns.
const (
	progressWidth = 20
	progressDesc  = 40
)

// newProgress starts a phase named label; bytes says Done/Total count bytes.
func (e *env) newProgress(label string, bytes bool) *progress {
	return &progress{out: e.stderr, label: label, tty: e.isTTY, quiet: e.quiet, bytes: bytes, now: time.Now}
}

// Update reports done of total (total 0 if unknown) and the current item.
func (p *progress) Update(done, total int64, item string) {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.start.IsZero() {
		p.start = now
	}
	if p.tty {
		p.draw(now, done, total)
		return
	}
	if !p.last.IsZero() && now.Sub(p.last) < 2*time.Second && (total == 0 || done < total) {
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

// fraction returns the per mille to show for done of total: never less
// than shown before, and below 1000 until done reaches total.
func (p *progress) fraction(done, total int64) int64 {
	f := done * 1000 / total
	if done < total {
		f = min(f, 999)
	}
	p.shown = max(p.shown, min(f, 1000))
	return p.shown
}

// describe returns the text before the bar: label, count and rate.
func (p *progress) describe(now time.Time, done, total int64) string {
	count := fmt.Sprint(done)
	if p.bytes {
		count = humanBytes(done)
	}
	if total > 0 {
		if p.bytes {
			count += "/" + humanBytes(total)
		} else {
			count += fmt.Sprintf("/%d", total)
		}
	}
	if el := now.Sub(p.start).Seconds(); el >= 1 {
		rate := float64(done) / el
		if p.bytes {
			count += fmt.Sprintf(" %s/s", humanBytes(int64(rate)))
		} else {
			count += fmt.Sprintf(" %.0f/s", rate)
		}
	}
	d := p.label + " " + count
	if len(d) > progressDesc {
		d = d[:progressDesc]
	}
	return fmt.Sprintf("%-*s", progressDesc, d)
}

func (p *progress) draw(now time.Time, done, total int64) {
	known := total > 0
	if p.bar == nil || known != p.known {
		if p.bar != nil {
			p.bar.Exit()
		}
		max := int64(1000)
		if !known {
			max = -1
		}
		p.known = known
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(p.out),
			progressbar.OptionSetWidth(progressWidth),
			progressbar.OptionSetPredictTime(known),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionUseIECUnits(true),
		)
	}
	if known {
		p.fraction(done, total)
	}
	// At most ten redraws a second (the bar's own throttle would drop the
	// text or the value of an update, whichever came second).
	if !p.drawn.IsZero() && now.Sub(p.drawn) < 100*time.Millisecond && done < total {
		return
	}
	p.drawn = now
	p.bar.Describe(p.describe(now, done, total))
	if known {
		p.bar.Set64(p.fraction(done, total))
	} else {
		p.bar.Set64(done)
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

// Warn prints a warning on its own line, --quiet or not.
func (p *progress) Warn(msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintf(p.out, "gobundle: %s: warning: %s\n", p.label, msg)
}
