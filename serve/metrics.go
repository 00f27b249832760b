package serve

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// reqKind classifies requests for metrics and logs.
type reqKind uint8

const (
	kindOther reqKind = iota
	kindList
	kindInfo
	kindMod
	kindZip
	kindLatest
	kindSumdb
	kindHealth
	kindMetrics
	kindMisses
	kindVulndb
	numKinds
)

func (k reqKind) String() string {
	switch k {
	case kindList:
		return "list"
	case kindInfo:
		return "info"
	case kindMod:
		return "mod"
	case kindZip:
		return "zip"
	case kindLatest:
		return "latest"
	case kindSumdb:
		return "sumdb"
	case kindHealth:
		return "healthz"
	case kindMetrics:
		return "metrics"
	case kindMisses:
		return "misses"
	case kindVulndb:
		return "vulndb"
	}
	return "other"
}

// numCodes is the number of status codes counted in fixed slots (see
// statusCodes); others are counted in a map.
const numCodes = 9

// statusCodes are the status codes counted in fixed slots.
func statusCodes() [numCodes]int {
	return [numCodes]int{200, 206, 304, 400, 404, 405, 412, 416, 500}
}

// statusSlot returns the fixed slot of code, or -1.
func statusSlot(code int) int {
	for i, c := range statusCodes() {
		if c == code {
			return i
		}
	}
	return -1
}

// numBuckets is the number of finite latency histogram buckets.
const numBuckets = 15

// latencyBuckets are the upper bounds, in seconds, of the latency histogram.
func latencyBuckets() [numBuckets]float64 {
	return [numBuckets]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}

// metrics are the server's counters, written without locks on the request
// path and rendered in the Prometheus text format by hand.
type metrics struct {
	requests [numKinds][numCodes]atomic.Uint64
	bytes    [numKinds]atomic.Uint64
	buckets  [numKinds][numBuckets + 1]atomic.Uint64
	sumNanos [numKinds]atomic.Uint64

	corrupt       atomic.Uint64
	sumdbRefused  atomic.Uint64
	reloads       atomic.Uint64
	reloadErrors  atomic.Uint64
	inFlight      atomic.Int64
	otherMu       sync.Mutex
	otherStatuses map[[2]int]uint64 // (kind, code) → count, for codes without a slot
}

func (m *metrics) observe(k reqKind, code int, n int64, d time.Duration) {
	slot := statusSlot(code)
	if slot < 0 {
		m.otherMu.Lock()
		if m.otherStatuses == nil {
			m.otherStatuses = make(map[[2]int]uint64)
		}
		m.otherStatuses[[2]int{int(k), code}]++
		m.otherMu.Unlock()
	} else {
		m.requests[k][slot].Add(1)
	}
	if n > 0 {
		m.bytes[k].Add(uint64(n))
	}
	s := d.Seconds()
	b := numBuckets
	for i, ub := range latencyBuckets() {
		if s <= ub {
			b = i
			break
		}
	}
	m.buckets[k][b].Add(1)
	m.sumNanos[k].Add(uint64(d))
}

// write renders the metrics. bundles and versions describe the current view.
// bad names the bundle files skipped.
// missingBase of them are incremental bundles whose bases are not loaded;
// untrusted, those not signed by a trusted key.
func (m *metrics) write(w io.Writer, bundles, versions int, bad []string, missingBase, untrusted int, ml *missLog) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	p("# HELP gobundle_serve_requests_total Requests answered, by kind and status code.\n")
	p("# TYPE gobundle_serve_requests_total counter\n")
	for k := range numKinds {
		for i, code := range statusCodes() {
			if n := m.requests[k][i].Load(); n > 0 {
				p("gobundle_serve_requests_total{kind=%q,code=\"%d\"} %d\n", k.String(), code, n)
			}
		}
	}
	m.otherMu.Lock()
	for kc, n := range m.otherStatuses {
		p("gobundle_serve_requests_total{kind=%q,code=\"%d\"} %d\n", reqKind(kc[0]).String(), kc[1], n)
	}
	m.otherMu.Unlock()

	p("# HELP gobundle_serve_response_bytes_total Response body bytes sent, by kind.\n")
	p("# TYPE gobundle_serve_response_bytes_total counter\n")
	for k := range numKinds {
		p("gobundle_serve_response_bytes_total{kind=%q} %d\n", k.String(), m.bytes[k].Load())
	}

	p("# HELP gobundle_serve_request_duration_seconds Time to answer a request, by kind.\n")
	p("# TYPE gobundle_serve_request_duration_seconds histogram\n")
	for k := range numKinds {
		var cum uint64
		for i, ub := range latencyBuckets() {
			cum += m.buckets[k][i].Load()
			p("gobundle_serve_request_duration_seconds_bucket{kind=%q,le=%q} %d\n", k.String(), strconv.FormatFloat(ub, 'g', -1, 64), cum)
		}
		cum += m.buckets[k][numBuckets].Load()
		p("gobundle_serve_request_duration_seconds_bucket{kind=%q,le=\"+Inf\"} %d\n", k.String(), cum)
		p("gobundle_serve_request_duration_seconds_sum{kind=%q} %s\n", k.String(), formatSeconds(m.sumNanos[k].Load()))
		p("gobundle_serve_request_duration_seconds_count{kind=%q} %d\n", k.String(), cum)
	}

	p("# HELP gobundle_serve_requests_in_flight Requests being answered now.\n")
	p("# TYPE gobundle_serve_requests_in_flight gauge\n")
	p("gobundle_serve_requests_in_flight %d\n", m.inFlight.Load())
	p("# HELP gobundle_serve_corrupt_total Responses refused or aborted because bundle content failed its checksum.\n")
	p("# TYPE gobundle_serve_corrupt_total counter\n")
	p("gobundle_serve_corrupt_total %d\n", m.corrupt.Load())
	p("# HELP gobundle_serve_sumdb_refused_total Bundles whose checksum database data was refused (no trusted key, or it does not verify with it).\n")
	p("# TYPE gobundle_serve_sumdb_refused_total counter\n")
	p("gobundle_serve_sumdb_refused_total %d\n", m.sumdbRefused.Load())
	p("# HELP gobundle_serve_reloads_total Reloads of the bundle set, by result.\n")
	p("# TYPE gobundle_serve_reloads_total counter\n")
	p("gobundle_serve_reloads_total{result=\"ok\"} %d\n", m.reloads.Load())
	p("gobundle_serve_reloads_total{result=\"error\"} %d\n", m.reloadErrors.Load())
	p("# HELP gobundle_serve_bundles_loaded Bundle files in the served view.\n")
	p("# TYPE gobundle_serve_bundles_loaded gauge\n")
	p("gobundle_serve_bundles_loaded %d\n", bundles)
	p("# HELP gobundle_serve_module_versions Module versions in the served view.\n")
	p("# TYPE gobundle_serve_module_versions gauge\n")
	p("gobundle_serve_module_versions %d\n", versions)
	p("# HELP gobundle_serve_bundles_bad Bundle files skipped because they could not be opened (truncated, half-copied, not a bundle).\n")
	p("# TYPE gobundle_serve_bundles_bad gauge\n")
	p("gobundle_serve_bundles_bad %d\n", len(bad))
	p("# HELP gobundle_serve_bundles_missing_base Incremental bundles skipped because their base bundles are not loaded.\n")
	p("# TYPE gobundle_serve_bundles_missing_base gauge\n")
	p("gobundle_serve_bundles_missing_base %d\n", missingBase)
	p("# HELP gobundle_serve_bundles_untrusted Bundle files skipped because they are not signed by a trusted key (serve --key), among the bad ones.\n")
	p("# TYPE gobundle_serve_bundles_untrusted gauge\n")
	p("gobundle_serve_bundles_untrusted %d\n", untrusted)
	if rss, ok := processRSS(); ok {
		p("# HELP gobundle_serve_resident_memory_bytes Resident set size of the server process.\n")
		p("# TYPE gobundle_serve_resident_memory_bytes gauge\n")
		p("gobundle_serve_resident_memory_bytes %d\n", rss)
	}
	if len(bad) > 0 {
		p("# HELP gobundle_serve_bundle_bad A bundle file skipped, by base name.\n")
		p("# TYPE gobundle_serve_bundle_bad gauge\n")
		for _, b := range bad {
			p("gobundle_serve_bundle_bad{bundle=%q} 1\n", b)
		}
	}
	total, distinct, dropped := ml.missMetrics()
	p("# HELP gobundle_serve_misses_total Requests answered 404 for a module version, @v/list, @latest or checksum database record that no loaded bundle holds, by kind (GET /-/misses lists them).\n")
	p("# TYPE gobundle_serve_misses_total counter\n")
	for _, k := range missKinds {
		p("gobundle_serve_misses_total{kind=%q} %d\n", k.String(), total[k])
	}
	p("# HELP gobundle_serve_misses Distinct module versions and latest queries missed, since the misses file began.\n")
	p("# TYPE gobundle_serve_misses gauge\n")
	p("gobundle_serve_misses %d\n", distinct)
	p("# HELP gobundle_serve_misses_dropped_total Misses not kept because the bound of distinct misses was reached.\n")
	p("# TYPE gobundle_serve_misses_dropped_total counter\n")
	p("gobundle_serve_misses_dropped_total %d\n", dropped)
	return bw.Flush()
}

func formatSeconds(nanos uint64) string {
	s := float64(nanos) / 1e9
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return "0"
	}
	return strconv.FormatFloat(s, 'g', -1, 64)
}
