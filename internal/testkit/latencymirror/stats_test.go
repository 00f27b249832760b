package latencymirror

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestStatsRounds: requests issued one after another's answer take a
// round each, requests issued together share one; kinds and the peak in
// flight are counted.
func TestStatsRounds(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"example.com/a/@v/v1.0.0.mod", "example.com/a/@v/v1.0.0.info", "example.com/a/@v/v1.0.0.zip", "example.com/a/@v/list", "sumdb/db/lookup/example.com/a@v1.0.0", "sumdb/db/tile/8/0/001"} {
		name := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(name), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte("x"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Start(Config{Dir: dir, Delay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Three in a chain.
	for _, p := range []string{"/example.com/a/@v/v1.0.0.mod", "/sumdb/db/lookup/example.com/a@v1.0.0", "/sumdb/db/tile/8/0/001"} {
		get(t, m.URL+p)
	}
	// Then eight at once: one more round (the delay holds them in flight
	// together).
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 8; i++ {
		p := []string{"/example.com/a/@v/v1.0.0.info", "/example.com/a/@v/v1.0.0.zip", "/example.com/a/@v/list", "/example.com/a/@latest"}[i%4]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			get(t, m.URL+p)
		}()
	}
	close(start)
	wg.Wait()
	s := m.Stats()
	want := map[string]int64{"mod": 1, "lookup": 1, "tile": 1, "info": 2, "zip": 2, "list": 2, "latest": 2}
	for k, n := range want {
		if s.Kinds[k] != n {
			t.Errorf("%s requests = %d, want %d (%v)", k, s.Kinds[k], n, s)
		}
	}
	// 3 chained, then 8 together; a machine too loaded to issue the 8
	// within the delay may split them over two rounds.
	if s.Rounds < 4 || s.Rounds > 5 {
		t.Errorf("rounds = %d, want 4 (5 at most under load): 3 chained, then 8 together (%v)", s.Rounds, s)
	}
	if s.MaxInFlight < 2 || s.MaxInFlight > 8 {
		t.Errorf("max in flight = %d, want 2..8 (8 issued at once)", s.MaxInFlight)
	}
	m.Reset()
	if s := m.Stats(); s.Rounds != 0 || len(s.Kinds) != 0 {
		t.Errorf("after Reset: %v", s)
	}
}
