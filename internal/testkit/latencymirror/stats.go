package latencymirror

import (
	"strconv"
	"strings"
	"sync"
)

// # Accounting
//
// With a fixed delay per request, a client's wall time through the mirror
// is about its number of sequential round trips times the delay: what
// makes a client slow at a distance is requests waiting on each other, not
// their number. The mirror measures it without a clock: every request is
// given a round, one more than the highest round of the requests that had
// finished when it arrived. A request that waits on another's answer so
// gets a higher round than it; requests issued together share one. The
// highest round is then the length of the longest chain of requests each
// issued after the previous one was answered, the sequential round trips
// of the run (requests issued late for want of CPU, by a client slower
// than the delay, raise it too). Tests assert on rounds and on the peak
// of requests in flight, never on seconds.

// Stats are the mirror's counts since it started (or since Reset).
type Stats struct {
	// Kinds counts requests by kind: info, mod, zip, list, latest,
	// lookup, tile, supported, other.
	Kinds map[string]int64
	// InFlight is the number of requests in flight now, MaxInFlight its
	// peak.
	InFlight, MaxInFlight int64
	// Rounds is the highest round (see Accounting).
	Rounds int64
}

// accounting keeps Stats.
type accounting struct {
	mu       sync.Mutex
	kinds    map[string]int64
	inFlight int64
	max      int64
	finished int64 // highest round of a finished request
	rounds   int64
}

// begin counts a request for URL path p and returns the function that
// ends it.
func (a *accounting) begin(p string) func() {
	a.mu.Lock()
	if a.kinds == nil {
		a.kinds = map[string]int64{}
	}
	a.kinds[kind(p)]++
	a.inFlight++
	a.max = max(a.max, a.inFlight)
	round := a.finished + 1
	a.rounds = max(a.rounds, round)
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		a.inFlight--
		a.finished = max(a.finished, round)
		a.mu.Unlock()
	}
}

// Stats returns the counts so far.
func (m *Mirror) Stats() Stats {
	a := &m.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{Kinds: map[string]int64{}, InFlight: a.inFlight, MaxInFlight: a.max, Rounds: a.rounds}
	for k, n := range a.kinds {
		s.Kinds[k] = n
	}
	return s
}

// Reset sets the counts to zero (requests in flight stay counted in
// flight).
func (m *Mirror) Reset() {
	a := &m.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kinds = nil
	a.max, a.finished, a.rounds = a.inFlight, 0, 0
}

// kind names the kind of request for URL path p.
func kind(p string) string {
	switch {
	case strings.HasPrefix(p, "/sumdb/"):
		switch {
		case strings.Contains(p, "/lookup/"):
			return "lookup"
		case strings.Contains(p, "/tile/"):
			return "tile"
		case strings.HasSuffix(p, "/supported"):
			return "supported"
		}
	case strings.HasSuffix(p, "/@latest"):
		return "latest"
	case strings.HasSuffix(p, "/@v/list"):
		return "list"
	case strings.Contains(p, "/@v/"):
		for _, k := range []string{"info", "mod", "zip"} {
			if strings.HasSuffix(p, "."+k) {
				return k
			}
		}
	}
	return "other"
}

// String formats s on one line, kinds sorted.
func (s Stats) String() string {
	var b strings.Builder
	for _, k := range []string{"info", "mod", "zip", "list", "latest", "lookup", "tile", "supported", "other"} {
		if n := s.Kinds[k]; n > 0 {
			b.WriteString(k + "=" + strconv.FormatInt(n, 10) + " ")
		}
	}
	b.WriteString("max_in_flight=" + strconv.FormatInt(s.MaxInFlight, 10) + " rounds=" + strconv.FormatInt(s.Rounds, 10))
	return b.String()
}
