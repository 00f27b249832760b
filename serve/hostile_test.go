package serve

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/hostile"
)

// TestPollSurvivesHostileBundles is acceptance 2 of issue 11: a serve
// under --poll stays up and healthy while each crafted bundle is dropped
// into its directory, and the honest bundle beside it keeps serving.
func TestPollSurvivesHostileBundles(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, filepath.Join(dir, "honest.gobundle"), 0, testMod{path: "example.com/honest", version: "v1.0.0"})
	s, base := runServer(t, Options{Bundles: []string{dir}, PollInterval: 20 * time.Millisecond})
	reloaded := func() uint64 { return s.metrics.reloads.Load() + s.metrics.reloadErrors.Load() }
	healthy := func(when string) {
		t.Helper()
		for path, want := range map[string]int{"/healthz": 200, "/example.com/honest/@v/v1.0.0.mod": 200} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatalf("%s: %s: %v", when, path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("%s: %s: %s %q", when, path, resp.Status, body)
			}
		}
	}
	for i, c := range hostile.Cases() {
		data, err := c.Build()
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, fmt.Sprintf("crafted%02d.gobundle", i))
		// Written under a hidden name and renamed, as a copy should be.
		tmp := filepath.Join(dir, ".crafted.tmp")
		if err := os.WriteFile(tmp, data, 0o666); err != nil {
			t.Fatal(err)
		}
		n := reloaded()
		if err := os.Rename(tmp, name); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c.Name+" to be looked at", func() bool { return reloaded() > n })
		healthy("with " + c.Name)
		// Gone again: the view it failed to join is still the one served,
		// or the one it joined is replaced within a few polls.
		os.Remove(name)
		time.Sleep(200 * time.Millisecond)
		healthy("after " + c.Name)
	}
}
