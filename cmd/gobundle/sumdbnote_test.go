package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/serve"
)

// Finding 6 of issue 11: serve printed the bundle's own key as the GOSUMDB
// value to use. It prints a key only when the user gave it with --sumdb.
func TestSumDBNotePrintsOnlyGivenKeys(t *testing.T) {
	const key = "sum.example+01234567+AQID"
	st := serve.Stats{SumDBs: []serve.SumDBStats{{Name: "sum.example", Key: key, Tree: 5, Records: 2}}}
	for _, tc := range []struct {
		given map[string]string
		print bool
	}{
		{nil, false},
		{map[string]string{"other.example": "other.example+01234567+AQID"}, false},
		{map[string]string{"sum.example": key}, true},
	} {
		var out bytes.Buffer
		printSumDBNote(&env{stdout: &out}, st, tc.given)
		if got := strings.Contains(out.String(), key); got != tc.print {
			t.Errorf("given %v: key printed %v, want %v:\n%s", tc.given, got, tc.print, out.String())
		}
	}
}
