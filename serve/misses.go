package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// # Misses
//
// A miss is a request answered 404 for something a bundle could hold: a
// module version's .info, .mod or .zip, a module's @v/list or @latest, or a
// checksum database lookup. The server keeps one entry per module version
// (or per module's "latest" query, for list and @latest), with a count,
// the kinds of files asked for and the first and last time, never who
// asked. GET /-/misses lists them in the syntax of `gobundle create
// --from` (one module@version or module@latest a line); with ?format=json
// (or Accept: application/json) as JSON.
//
// With [Options.MissesFile] they are kept across restarts: the file is
// read at start and appended to, one JSON object a line, each line the
// misses counted since the last append (a delta); its reader adds them up.
// Appends are single writes of whole lines to a file opened O_APPEND, so
// several servers may share the file; a line cut short by a crash is
// skipped when the file is read again, and the next append starts on a
// new line. The file is only ever appended to.

// LatestQuery is the version recorded for a miss of a module's @v/list or
// @latest: `gobundle create --from` resolves module@latest.
const LatestQuery = "latest"

// Miss is one module version (or latest query) asked of the server that
// no loaded bundle holds.
type Miss struct {
	Module  string    `json:"module"`
	Version string    `json:"version"` // canonical version, or LatestQuery
	Kinds   []string  `json:"kinds"`   // info, mod, zip, list, latest, sumdb
	Count   uint64    `json:"count"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// String is the miss in `create --from` syntax: module@version.
func (m Miss) String() string { return m.Module + "@" + m.Version }

const (
	// defaultMaxMisses bounds the distinct misses kept (a crafted client
	// could ask for millions of module paths).
	defaultMaxMisses = 10000
	// maxMissesFile bounds the misses file read at start.
	maxMissesFile = 64 << 20
	// maxMissLine bounds one line of it.
	maxMissLine = 4096
	// missFlushInterval is how often new counts are appended to the file.
	missFlushInterval = time.Second
)

// missKinds are the kinds a miss can be of, as bits of missEntry.kinds.
var missKinds = []reqKind{kindInfo, kindMod, kindZip, kindList, kindLatest, kindSumdb}

type missKey struct{ module, version string }

type missEntry struct {
	kinds       uint16 // bit i: missKinds[i]
	count       uint64
	first, last time.Time
	// unsaved counts since the last append to the file.
	unsaved      uint64
	unsavedKinds uint16
	unsavedFirst time.Time
}

// missLog records misses and appends them to a file.
type missLog struct {
	log  *slog.Logger
	file string
	max  int

	mu      sync.Mutex
	entries map[missKey]*missEntry
	dirty   []missKey // keys with unsaved counts
	dropped uint64    // misses not kept: the bound was reached
	total   [numKinds]uint64

	stop chan struct{}
	done chan struct{}
}

// newMissLog reads file (if any) and starts appending to it every
// missFlushInterval.
func newMissLog(log *slog.Logger, file string, max int) (*missLog, error) {
	if max <= 0 {
		max = defaultMaxMisses
	}
	ml := &missLog{log: log, file: file, max: max, entries: make(map[missKey]*missEntry)}
	if file == "" {
		return ml, nil
	}
	if err := ml.load(); err != nil {
		return nil, err
	}
	// Check now that the file can be appended to, rather than at the
	// first miss.
	f, err := openAppend(file)
	if err != nil {
		return nil, fmt.Errorf("serve: misses file: %w", err)
	}
	f.Close()
	ml.stop, ml.done = make(chan struct{}), make(chan struct{})
	go ml.flusher()
	return ml, nil
}

// missLine is one line of the misses file.
type missLine struct {
	Module  string    `json:"module"`
	Version string    `json:"version"`
	Kinds   []string  `json:"kinds"`
	Count   uint64    `json:"count"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// load adds up the lines of the misses file. Lines that do not parse (one
// cut short by a crash, say) are skipped and counted in a warning.
func (ml *missLog) load() error {
	f, err := os.Open(ml.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serve: misses file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxMissesFile))
	sc.Buffer(make([]byte, 0, 512), maxMissLine)
	bad := 0
	for sc.Scan() {
		var l missLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || !validMiss(l.Module, l.Version) || l.Count == 0 {
			bad++
			continue
		}
		var kinds uint16
		for _, k := range l.Kinds {
			for i, mk := range missKinds {
				if mk.String() == k {
					kinds |= 1 << i
				}
			}
		}
		ml.add(missKey{l.Module, l.Version}, kinds, l.Count, l.First.UTC(), l.Last.UTC(), false)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("serve: misses file %s: %w", ml.file, err)
	}
	if bad > 0 {
		ml.log.Warn("misses file: lines skipped (cut short by a crash, or not written by gobundle serve)", "file", ml.file, "lines", bad)
	}
	ml.log.Info("misses file read", "file", ml.file, "misses", len(ml.entries))
	return nil
}

// validMiss reports whether module@version can be a line of a create
// --from file.
func validMiss(path, version string) bool {
	if version == LatestQuery {
		return module.CheckPath(path) == nil
	}
	return module.Check(path, version) == nil && module.CanonicalVersion(version) == version
}

// record counts a miss of kind for path@version (version "" for list and
// @latest). Requests the go command cannot turn into a bundle input
// (non-canonical versions such as branch names, invalid paths) are not
// recorded.
func (ml *missLog) record(kind reqKind, path, version string) {
	if kind == kindList || kind == kindLatest {
		version = LatestQuery
	}
	if !validMiss(path, version) {
		return
	}
	bit := uint16(0)
	for i, mk := range missKinds {
		if mk == kind {
			bit = 1 << i
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ml.mu.Lock()
	ml.total[kind]++
	ml.add(missKey{path, version}, bit, 1, now, now, ml.file != "")
	ml.mu.Unlock()
}

// add merges counts into the entry of k; ml.mu is held (or ml is not yet
// shared).
func (ml *missLog) add(k missKey, kinds uint16, n uint64, first, last time.Time, save bool) {
	e := ml.entries[k]
	if e == nil {
		if len(ml.entries) >= ml.max {
			ml.dropped += n
			return
		}
		e = &missEntry{first: first, last: last}
		ml.entries[k] = e
	}
	e.kinds |= kinds
	e.count += n
	if first.Before(e.first) {
		e.first = first
	}
	if last.After(e.last) {
		e.last = last
	}
	if !save {
		return
	}
	if e.unsaved == 0 {
		ml.dirty = append(ml.dirty, k)
		e.unsavedFirst = first
	}
	e.unsaved += n
	e.unsavedKinds |= kinds
}

// list returns the misses sorted by module path and version.
func (ml *missLog) list() []Miss {
	ml.mu.Lock()
	out := make([]Miss, 0, len(ml.entries))
	for k, e := range ml.entries {
		out = append(out, Miss{Module: k.module, Version: k.version, Kinds: kindNames(e.kinds), Count: e.count, First: e.first, Last: e.last})
	}
	ml.mu.Unlock()
	slices.SortFunc(out, func(a, b Miss) int {
		if c := strings.Compare(a.Module, b.Module); c != 0 {
			return c
		}
		return compareMissVersion(a.Version, b.Version)
	})
	return out
}

// compareMissVersion orders versions by semver, latest last.
func compareMissVersion(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == LatestQuery:
		return 1
	case b == LatestQuery:
		return -1
	}
	return semver.Compare(a, b)
}

func kindNames(bits uint16) []string {
	var out []string
	for i, k := range missKinds {
		if bits&(1<<i) != 0 {
			out = append(out, k.String())
		}
	}
	return out
}

// flusher appends the unsaved counts every missFlushInterval until close.
func (ml *missLog) flusher() {
	defer close(ml.done)
	t := time.NewTicker(missFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ml.stop:
			ml.flush()
			return
		case <-t.C:
			ml.flush()
		}
	}
}

// flush appends one line per miss counted since the last flush, in one
// write. On failure the counts stay unsaved and are tried again.
func (ml *missLog) flush() {
	ml.mu.Lock()
	if len(ml.dirty) == 0 {
		ml.mu.Unlock()
		return
	}
	var buf bytes.Buffer
	written := make(map[missKey]uint64, len(ml.dirty))
	for _, k := range ml.dirty {
		e := ml.entries[k]
		written[k] = e.unsaved
		b, _ := json.Marshal(missLine{Module: k.module, Version: k.version, Kinds: kindNames(e.unsavedKinds),
			Count: e.unsaved, First: e.unsavedFirst, Last: e.last})
		buf.Write(b)
		buf.WriteByte('\n')
	}
	ml.mu.Unlock()

	err := appendLines(ml.file, buf.Bytes())

	ml.mu.Lock()
	defer ml.mu.Unlock()
	if err != nil {
		ml.log.Error("misses file: append failed; counts kept in memory and tried again", "file", ml.file, "err", err)
		return
	}
	// Counts added while writing stay unsaved: subtract only what was
	// written.
	var still []missKey
	for _, k := range ml.dirty {
		e := ml.entries[k]
		e.unsaved -= min(e.unsaved, written[k])
		if e.unsaved > 0 {
			still = append(still, k)
		} else {
			e.unsavedKinds = 0
		}
	}
	ml.dirty = still
}

// close appends what is unsaved and stops the flusher.
func (ml *missLog) close() {
	if ml.stop == nil {
		return
	}
	select {
	case <-ml.stop:
	default:
		close(ml.stop)
	}
	<-ml.done
}

// openAppend opens file for appending, creating it if needed.
func openAppend(file string) (*os.File, error) {
	return os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// appendLines appends data (whole lines) to file in one write, after a
// newline when the file does not end with one (a line cut short by a
// crash).
func appendLines(file string, data []byte) error {
	f, err := openAppend(file)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if r, err := os.Open(file); err == nil {
			if _, err := r.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
				data = append([]byte{'\n'}, data...)
			}
			r.Close()
		}
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// serveMisses answers /-/misses: text in create --from syntax, or JSON.
func (s *Server) serveMisses(w *statusWriter, r *http.Request) {
	ms := s.misses.list()
	h := w.Header()
	h["Cache-Control"] = s.hdr.noCache
	if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
		body, err := json.MarshalIndent(struct {
			Misses  []Miss `json:"misses"`
			Dropped uint64 `json:"dropped"`
		}{ms, s.misses.droppedCount()}, "", "  ")
		if err != nil {
			s.plain(w, http.StatusInternalServerError, "internal error: %v", err)
			return
		}
		s.sendBytes(w, r, append(body, '\n'), "", s.hdr.json, nil)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Module versions and queries asked of gobundle serve that no loaded bundle holds\n")
	fmt.Fprintf(&b, "# (%s); gobundle create --from FILE takes this file as it is.\n", plural(len(ms), "miss", "misses"))
	for _, m := range ms {
		fmt.Fprintf(&b, "%s\n", m)
	}
	s.sendBytes(w, r, []byte(b.String()), "", s.hdr.text, nil)
}

func (ml *missLog) droppedCount() uint64 {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	return ml.dropped
}

// missMetrics returns the misses counted by kind since start, the
// distinct misses kept and those dropped.
func (ml *missLog) missMetrics() (total [numKinds]uint64, distinct int, dropped uint64) {
	ml.mu.Lock()
	defer ml.mu.Unlock()
	return ml.total, len(ml.entries), ml.dropped
}
