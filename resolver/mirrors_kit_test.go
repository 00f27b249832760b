package resolver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fakesumdb"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// TestKitFaults fetches every fixture module through the shared fake proxy
// while it faults the first two requests of every file, and checks each
// hash against the shared fake checksum database through the same proxy.
func TestKitFaults(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	mods := set.Modules()
	if len(mods) == 0 {
		t.Fatal("no fixture modules")
	}
	lied := mods[0]
	db, err := fakesumdb.New(set, fakesumdb.Options{Name: "sum.kit.example", Lies: []string{lied.String()}})
	if err != nil {
		t.Fatal(err)
	}
	p := fakeproxy.Start(set, 7)
	defer p.Close()
	p.MountSumDB(db.Name(), db.Handler())
	if err := p.AddFault(fakeproxy.Fault{Kind: fakeproxy.Random, Pattern: "*/@v/*", First: 2, Kinds: []fakeproxy.Kind{fakeproxy.ServerError, fakeproxy.Reset, fakeproxy.Truncate}}); err != nil {
		t.Fatal(err)
	}
	m := ftMirrors(t, p.URL, func(c *MirrorConfig) { c.Jobs = 4; c.Timeout = 5 * time.Second })
	sdb, err := NewSumDB(SumDBConfig{GOSUMDB: db.VerifierKey(), CacheDir: t.TempDir()}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()

	ctx := context.Background()
	var wg sync.WaitGroup
	for _, mod := range mods {
		wg.Go(func() {
			zip, err := mod.Zip()
			if err != nil {
				t.Error(err)
				return
			}
			want := map[string][]byte{"info": mod.Info(), "mod": mod.Mod(), "zip": zip}
			for _, kind := range []string{"info", "mod", "zip"} {
				data, _, err := m.ReadFile(ctx, mod.Path, mod.Version, kind)
				if err != nil {
					t.Errorf("%s %s: %v", mod, kind, err)
					continue
				}
				if !bytes.Equal(data, want[kind]) {
					t.Errorf("%s %s: content differs from the fixture", mod, kind)
				}
			}
			zh, _ := mod.ZipHash()
			mh, _ := mod.ModHash()
			errZip := sdb.Check(ctx, mod.Path, mod.Version, false, zh)
			errMod := sdb.Check(ctx, mod.Path, mod.Version, true, mh)
			if errMod != nil {
				t.Errorf("%s go.mod: %v", mod, errMod)
			}
			switch {
			case mod == lied && errZip == nil:
				t.Errorf("%s: lying database not detected", mod)
			case mod == lied && !strings.Contains(errZip.Error(), zh):
				t.Errorf("%s: error %v does not show the go.sum hash", mod, errZip)
			case mod != lied && errZip != nil:
				t.Errorf("%s zip: %v", mod, errZip)
			}
		})
	}
	wg.Wait()
	t.Logf("%d module versions, %+v", len(mods), m.Stats())
	if st := m.Stats(); st.Retries == 0 {
		t.Errorf("Stats = %+v: the faults caused no retries", st)
	}
	left, _ := os.ReadDir(filepath.Join(m.cache.dir, "tmp"))
	if len(left) != 0 {
		t.Errorf("%d partial downloads left behind", len(left))
	}
}

// TestKitCorruptForget: a mirror serving wrong bytes once is healed by
// Forget and a second Fetch.
func TestKitCorruptForget(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	mod := set.Modules()[0]
	p := fakeproxy.Start(set, 1)
	defer p.Close()
	if err := p.AddFault(fakeproxy.Fault{Kind: fakeproxy.Corrupt, Pattern: "*.mod", First: 1}); err != nil {
		t.Fatal(err)
	}
	m := ftMirrors(t, p.URL)
	ctx := context.Background()
	data, _, err := m.ReadFile(ctx, mod.Path, mod.Version, "mod")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(data, mod.Mod()) {
		t.Fatal("the corrupt fault did not corrupt the go.mod")
	}
	if err := m.Forget(ctx, mod.Path, mod.Version, "mod"); err != nil {
		t.Fatal(err)
	}
	data, _, err = m.ReadFile(ctx, mod.Path, mod.Version, "mod")
	if err != nil || !bytes.Equal(data, mod.Mod()) {
		t.Fatalf("after Forget: %q, %v; want the fixture's go.mod", data, err)
	}
}
