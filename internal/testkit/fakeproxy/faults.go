package fakeproxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// A Kind is a kind of fault.
type Kind string

// The fault kinds.
const (
	Latency        Kind = "latency"   // wait Delay, then answer normally
	NotFound       Kind = "404"       // 404 Not Found, text body
	Gone           Kind = "410"       // 410 Gone, text body
	Forbidden      Kind = "403"       // 403 Forbidden, text body
	ServerError    Kind = "500"       // 500 Internal Server Error, text body
	Reset          Kind = "reset"     // 200 and full Content-Length, half the body, then a TCP reset
	Truncate       Kind = "truncate"  // 200 and full Content-Length, half the body, then a clean close
	Corrupt        Kind = "corrupt"   // 200, right length, one byte flipped (wrong bytes)
	Trickle        Kind = "trickle"   // 200, the body in Chunk-byte pieces, Delay apart
	LatestNotFound Kind = "latest404" // 404 for every /@latest request (Pattern defaults to "*/@latest")
	Random         Kind = "random"    // one of Kinds (default: 500, reset, truncate, corrupt), chosen by the seed
)

// Kinds returns every fault kind but Random.
func Kinds() []Kind {
	return []Kind{Latency, NotFound, Gone, Forbidden, ServerError, Reset, Truncate, Corrupt, Trickle, LatestNotFound}
}

// defaultRandomKinds are the choices of a Random fault without Kinds.
func defaultRandomKinds() []Kind { return []Kind{ServerError, Reset, Truncate, Corrupt} }

// ParseKind parses a fault kind name.
func ParseKind(s string) (Kind, error) {
	for _, k := range append(Kinds(), Random) {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("fakeproxy: unknown fault kind %q (want one of %v, random)", s, Kinds())
}

// A Fault makes the proxy misbehave on matching requests.
//
// A request matches when its URL path (%-decoded, so module paths keep the
// proxy protocol's "!" case escapes, with the leading "/") matches Pattern, a glob in which "*" matches any run of
// characters, "/" included, and "?" one character. Whether a matching
// request is faulted depends only on the proxy's seed, the fault's index,
// the path and how many earlier requests for the same path this fault has
// matched, never on the order in which parallel requests arrive:
// "the first N requests for each path" is First: N.
type Fault struct {
	Kind Kind
	// Pattern selects requests; "" means "*" (or "*/@latest" for LatestNotFound).
	Pattern string
	// First, if positive, faults only the first First matching requests
	// for each distinct path; later ones pass (to test retries).
	First int
	// Prob, if in (0, 1), faults a matching request with that probability,
	// decided by the seed; otherwise every matching request is faulted.
	Prob float64
	// Delay is the wait of Latency (default 200ms) and the pause between
	// chunks of Trickle (default 5ms).
	Delay time.Duration
	// Chunk is the piece size of Trickle (default 256 bytes).
	Chunk int
	// Kinds are the choices of Random.
	Kinds []Kind
}

// String formats f as the arguments of the script command that adds it.
func (f Fault) String() string {
	var b strings.Builder
	if f.First > 0 {
		fmt.Fprintf(&b, "-first %d ", f.First)
	}
	if f.Prob > 0 && f.Prob < 1 {
		fmt.Fprintf(&b, "-prob %s ", strconv.FormatFloat(f.Prob, 'g', -1, 64))
	}
	if f.Delay > 0 {
		fmt.Fprintf(&b, "-delay %s ", f.Delay)
	}
	if f.Chunk > 0 {
		fmt.Fprintf(&b, "-chunk %d ", f.Chunk)
	}
	fmt.Fprintf(&b, "%s %s", f.Kind, f.pattern())
	return b.String()
}

func (f Fault) pattern() string {
	if f.Pattern != "" {
		return f.Pattern
	}
	if f.Kind == LatestNotFound {
		return "*/@latest"
	}
	return "*"
}

// globRegexp compiles a fault pattern.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// MatchPath reports whether the URL path p matches the glob pattern (as in
// [Fault]); a bad pattern matches nothing.
func MatchPath(pattern, p string) bool {
	re, err := globRegexp(pattern)
	return err == nil && re.MatchString(p)
}

// faultState is a Fault in a running proxy.
type faultState struct {
	Fault
	index int
	re    *regexp.Regexp
	seen  map[string]int // path → matching requests so far
}

// draw returns a deterministic pseudo-random generator for the n-th
// request for path matched by fault index under seed.
func draw(seed uint64, index int, path string, n int) *rand.Rand {
	h := fnv.New64a()
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], uint64(index))
	binary.LittleEndian.PutUint64(buf[8:], uint64(n))
	h.Write(buf[:])
	h.Write([]byte(path))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// decision is what the proxy does to one request.
type decision struct {
	kind  Kind
	fault *faultState
	rng   *rand.Rand // for the corrupt byte
}

// decide returns the fault for a request for path, if any; the caller holds
// the proxy's lock.
func decide(seed uint64, faults []*faultState, path string) (decision, bool) {
	for _, f := range faults {
		if !f.re.MatchString(path) {
			continue
		}
		n := f.seen[path]
		f.seen[path] = n + 1
		if f.First > 0 && n >= f.First {
			continue
		}
		rng := draw(seed, f.index, path, n)
		if f.Prob > 0 && f.Prob < 1 && rng.Float64() >= f.Prob {
			continue
		}
		kind := f.Kind
		if kind == Random {
			kinds := f.Kinds
			if len(kinds) == 0 {
				kinds = defaultRandomKinds()
			}
			kind = kinds[rng.IntN(len(kinds))]
		}
		return decision{kind: kind, fault: f, rng: rng}, true
	}
	return decision{}, false
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
