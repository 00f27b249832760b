package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestProgressNeverBackwards drives a terminal progress display with a
// total that grows as work is found (as the resolver's does: 16 % → 50 %
// → 81 % → 77 % before): the percentage shown never decreases, shows
// 100 only at the end, every line fits 80 columns, and the line shows a
// rate once a second has passed and the time left.
func TestProgressNeverBackwards(t *testing.T) {
	var out strings.Builder
	clock := time.Unix(1000, 0)
	p := &progress{out: &out, label: "resolving", tty: true, now: func() time.Time { return clock }}
	steps := [][2]int64{{1, 6}, {5, 10}, {13, 16}, {17, 22}, {20, 22}, {21, 40}, {30, 41}, {41, 41}}
	for _, s := range steps {
		for d := s[0] - 3; d <= s[0]; d++ {
			if d < 0 {
				continue
			}
			clock = clock.Add(700 * time.Millisecond)
			p.Update(d, s[1], "example.com/m@v1.0.0")
			time.Sleep(110 * time.Millisecond) // past the bar's throttle
		}
	}
	screen := out.String()
	p.Finish()
	pct := regexp.MustCompile(`\b(\d+)%`)
	last := -1
	frames := 0
	for _, frame := range strings.FieldsFunc(screen, func(r rune) bool { return r == '\r' || r == '\n' }) {
		frame = strings.TrimRight(frame, " ")
		if frame == "" {
			continue
		}
		if n := utf8.RuneCountInString(frame); n > 80 {
			t.Errorf("line of %d columns: %q", n, frame)
		}
		m := pct.FindStringSubmatch(frame)
		if m == nil {
			t.Errorf("no percentage in %q", frame)
			continue
		}
		frames++
		v, _ := strconv.Atoi(m[1])
		if v < last {
			t.Errorf("percentage went back from %d to %d: %q", last, v, frame)
		}
		if v == 100 && !strings.Contains(frame, "41/41") {
			t.Errorf("100%% before the end: %q", frame)
		}
		last = v
	}
	if frames < len(steps) {
		t.Fatalf("only %d frames drawn:\n%q", frames, screen)
	}
	if last < 90 { // at 100 % the bar clears itself
		t.Errorf("ended at %d%%", last)
	}
	if !regexp.MustCompile(`\d+/s`).MatchString(screen) {
		t.Errorf("no rate shown:\n%q", screen)
	}
	if !regexp.MustCompile(`\[\d+s:\d+s\]`).MatchString(screen) || strings.Count(screen, "[0s:0s]") == frames {
		t.Errorf("no elapsed:left times shown:\n%q", screen)
	}
}

// TestProgressBytesIEC: byte counts and rates are in KiB/MiB, as
// everywhere else in gobundle.
func TestProgressBytesIEC(t *testing.T) {
	var out strings.Builder
	clock := time.Unix(1000, 0)
	p := &progress{out: &out, label: "compressing", tty: true, bytes: true, now: func() time.Time { return clock }}
	p.Update(0, 40<<20, "")
	clock = clock.Add(2 * time.Second)
	time.Sleep(110 * time.Millisecond)
	p.Update(10<<20, 40<<20, "")
	s := out.String()
	if !strings.Contains(s, "10.0 MiB/40.0 MiB 5.0 MiB/s") {
		t.Errorf("want 10.0 MiB/40.0 MiB 5.0 MiB/s in %q", s)
	}
	if strings.Contains(s, "MB") || strings.Contains(s, "kB") {
		t.Errorf("SI units in %q", s)
	}
}
