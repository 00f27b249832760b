package bundle_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit/hostile"
	"github.com/gobundle/gobundle/internal/testkit/rss"
)

// memoryCeiling is the peak RSS a reader may reach on a crafted bundle of
// a few hundred KB (issue 11).
const memoryCeiling = 256 << 20

// TestHostileMemoryCeiling runs what inspect, verify, unpack and serve do
// to each crafted bundle in a process of its own and fails when that
// process's peak RSS reaches the ceiling.
func TestHostileMemoryCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a process per crafted bundle")
	}
	for _, c := range hostile.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "crafted")
			data, err := c.Build()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, data, 0o666); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostileHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "GOBUNDLE_HOSTILE_FILE="+name, "GOBUNDLE_HOSTILE_DIR="+dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			var peak int64
			if _, err := fmt.Sscanf(string(out[bytes.Index(out, []byte("peak "))+1:]), "eak %d", &peak); err != nil || bytes.Index(out, []byte("peak ")) < 0 {
				t.Fatalf("helper said no peak:\n%s", out)
			}
			t.Logf("peak RSS %.1f MiB; %s", float64(peak)/(1<<20), bytes.TrimSpace(out[:bytes.Index(out, []byte("peak "))]))
			if peak >= memoryCeiling {
				t.Fatalf("peak RSS %d MiB, ceiling %d MiB", peak>>20, memoryCeiling>>20)
			}
		})
	}
}

// TestHostileHelperProcess is the process TestHostileMemoryCeiling
// measures; it does nothing in a normal run.
func TestHostileHelperProcess(t *testing.T) {
	name := os.Getenv("GOBUNDLE_HOSTILE_FILE")
	if name == "" {
		return
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	// The high-water mark starts from here (not from the test binary
	// that forked this one): writing 5 to clear_refs resets VmHWM.
	if err := rss.ResetPeak(); err != nil {
		t.Fatal(err)
	}
	err = hostileOps(context.Background(), data, os.Getenv("GOBUNDLE_HOSTILE_DIR"))
	fmt.Println("result:", err)
	peak, err := rss.Peak()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("peak %d\n", peak)
}
