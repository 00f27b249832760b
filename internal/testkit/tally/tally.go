// Package tally counts what the reliability tests of issue 20 tried:
// inputs, faults injected, requests served, errors, bytes lost and wrong
// bytes. Tests call Add; when the environment names a file in
// GOBUNDLE_RELIABILITY_OUT (make reliability sets it), each count is
// appended to it as one JSON line, and cmd/reliability-report (in
// internal/reliability) sums them into the table of docs/RELIABILITY.md.
// Without it, Add only checks its arguments: the tests assert their own
// outcomes either way.
package tally

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
)

// Counter names. Lost and Wrong must stay 0; Unexpected counts errors
// that were not the expected outcome of a case (a test that counts one
// also fails).
const (
	Inputs     = "inputs"     // bad inputs tried (files, arguments, requests, bundles)
	Faults     = "faults"     // faults injected (upstream faults, disk full, kills, reloads)
	Requests   = "requests"   // requests answered by serve under faults or load
	Errors     = "errors"     // clear errors reported, as expected
	Unexpected = "unexpected" // errors that were not expected
	Lost       = "lost"       // bytes lost: written output missing or half-written
	Wrong      = "wrong"      // bytes served or written that differ from the truth
)

// EnvVar names the file counts are appended to.
const EnvVar = "GOBUNDLE_RELIABILITY_OUT"

// Line is one count, as written to the file.
type Line struct {
	Test    string `json:"test"`
	Counter string `json:"counter"`
	N       int64  `json:"n"`
}

var mu sync.Mutex

// Add records n of counter for the test t.
func Add(t testing.TB, counter string, n int64) {
	t.Helper()
	switch counter {
	case Inputs, Faults, Requests, Errors, Unexpected, Lost, Wrong:
	default:
		t.Fatalf("tally: unknown counter %q", counter)
	}
	if (counter == Lost || counter == Wrong || counter == Unexpected) && n != 0 {
		t.Errorf("tally: %d %s", n, counter)
	}
	name := os.Getenv(EnvVar)
	if name == "" || n == 0 {
		return
	}
	data, err := json.Marshal(Line{Test: t.Name(), Counter: counter, N: n})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatalf("tally: %v", err)
	}
	defer f.Close()
	if _, err := f.Write(append(data, '\n')); err != nil {
		t.Fatalf("tally: %v", err)
	}
}
