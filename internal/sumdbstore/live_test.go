package sumdbstore

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit"

	"github.com/gobundle/gobundle/bundle"
)

// TestLive is the proof against the real checksum database. With
// GOBUNDLE_LIVE=1 (and network, root, unshare and ip) it bundles this
// repository's own dependencies from this machine's upstream (go env
// GOPROXY, GOSUMDB), then, inside a network namespace with loopback only,
// serves the bundle and runs `go get` of a bundled module in an empty
// module with a fresh GOPATH and the default GOSUMDB: the go command must
// verify the new go.sum lines against the real database's key through the
// served records and tiles.
//
//	GOBUNDLE_LIVE=1 go test ./internal/sumdbstore -run TestLive -v
func TestLive(t *testing.T) {
	live := testkit.StartLive(t, 10*time.Minute)
	ctx, dir, bin := live.Ctx, live.Dir, live.Bin
	proxy, gosumdb, gocache := live.Proxy, live.GoSumDB, live.GOCACHE
	if gosumdb == "" || gosumdb == "off" {
		t.Fatalf("go env GOSUMDB is %q: no default checksum database to prove against", gosumdb)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	clean := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GOENV=off", "GOTOOLCHAIN=local", "GOCACHE=" + gocache,
		"GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=", "GOINSECURE=", "GOFLAGS=-mod=mod"}
	b := filepath.Join(dir, "live.gobundle")
	create := exec.CommandContext(ctx, bin, "create", "-o", b, "--cache", filepath.Join(dir, "cache"), root)
	create.Env = append(clean, "GOPROXY="+proxy, "GOSUMDB="+gosumdb, "GOPATH="+filepath.Join(dir, "gp0"))
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("gobundle create: %v\n%s", err, out)
	} else {
		t.Logf("%s", out)
	}

	r, err := bundle.Open(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(ctx, r, nil)
	if err != nil || s == nil {
		t.Fatalf("Load: %v (store %v)", err, s)
	}
	// A bundled module version with a zip and no requirements, so that
	// go get needs nothing the bundle may lack (it holds zips only for
	// the build list).
	var target string
	for _, m := range r.Modules() {
		if m.Zip == nil || m.ZipHash == "" || m.ModHash == "" {
			continue
		}
		mod, err := r.ReadFile(ctx, m.Path, m.Version, bundle.KindMod)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(mod), "require") {
			target = m.Path + "@" + m.Version
			break
		}
	}
	r.Close()
	if target == "" {
		t.Fatal("no bundled module version with a zip and no requirements")
	}
	t.Logf("checksum database %s: tree %d, %d records, %d tiles (%d bytes); go get %s", s.Name, s.Latest.Tree.N, len(s.Records), s.Tiles.Len(), s.TileBytes, target)

	proj := filepath.Join(dir, "proj")
	if err := os.MkdirAll(proj, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module example.com/livecheck\n\ngo 1.21\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	script := `set -e
ip link set lo up
"$GOBUNDLE" serve --listen 127.0.0.1:0 --poll 0 "$BUNDLE" >"$WORKDIR/serve.out" 2>"$WORKDIR/serve.err" &
SERVE=$!
trap 'kill $SERVE' EXIT
for i in $(seq 100); do grep -q '^GOPROXY=' "$WORKDIR/serve.out" 2>/dev/null && break; sleep 0.1; done
export $(grep '^GOPROXY=' "$WORKDIR/serve.out")
cd "$WORKDIR/proj"
go get "$TARGET"
`
	cmd := exec.CommandContext(ctx, "unshare", "--net", "sh", "-c", script)
	cmd.Env = append(clean, "GOBUNDLE="+bin, "BUNDLE="+b, "WORKDIR="+dir, "TARGET="+target, "GOSUMDB="+gosumdb,
		"GOPATH="+filepath.Join(dir, "gp1"), "GOMODCACHE="+filepath.Join(dir, "gp1", "pkg", "mod"))
	out, err := cmd.CombinedOutput()
	serveErr, _ := os.ReadFile(filepath.Join(dir, "serve.err"))
	if err != nil {
		t.Fatalf("go get %s under the air gap: %v\n%s\nserve log:\n%s", target, err, out, serveErr)
	}
	sum, err := os.ReadFile(filepath.Join(proj, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	path, version, _ := strings.Cut(target, "@")
	for _, line := range []string{path + " " + version + " h1:", path + " " + version + "/go.mod h1:"} {
		if !strings.Contains(string(sum), line) {
			t.Errorf("go.sum lacks %q:\n%s", line, sum)
		}
	}
	if !strings.Contains(string(serveErr), "/sumdb/"+s.Name+"/lookup/") || !strings.Contains(string(serveErr), "/sumdb/"+s.Name+"/tile/") {
		t.Errorf("the go command asked serve for no lookup or tile:\n%s", serveErr)
	}
	if _, err := os.Stat(filepath.Join(dir, "gp1", "pkg", "sumdb", s.Name, "latest")); err != nil {
		t.Errorf("the go command kept no tree head: %v", err)
	}
	t.Logf("go get %s verified offline against %s tree %d:\n%s", target, s.Name, s.Latest.Tree.N, out)
}
