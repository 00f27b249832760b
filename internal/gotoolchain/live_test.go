package gotoolchain_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit"
)

// TestLiveToolchain is issue 18's proof with real toolchains. With
// GOBUNDLE_LIVE=1 (network, root, unshare, ip) it makes two bundles from
// this machine's upstream (go env GOPROXY) and the default checksum
// database: one with --toolchain GOBUNDLE_LIVE_OLD (default go1.23.4)
// --platform linux/amd64, one of a module whose go.mod says go 1.27.0 with
// --toolchain auto. Then, inside a network namespace with loopback only,
// with a fresh GOPATH and the default GOSUMDB, through gobundle serve:
// GOTOOLCHAIN=<old> go version prints the old release, and GOTOOLCHAIN=auto
// go build of the module switches this machine's older go to go1.27.0,
// whose binary then reports that version. GOBUNDLE_LIVE_CACHE keeps the
// download cache (toolchain zips are about 75 MB each) across runs.
//
//	GOBUNDLE_LIVE=1 GOBUNDLE_LIVE_CACHE=/tmp/toolchain/cache go test ./internal/gotoolchain -run TestLiveToolchain -v
func TestLiveToolchain(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the live toolchain test runs the linux/amd64 toolchains it bundles")
	}
	live := testkit.StartLive(t, 15*time.Minute)
	ctx, dir, bin := live.Ctx, live.Dir, live.Bin
	proxy, gosumdb, gocache, local := live.Proxy, live.GoSumDB, live.GOCACHE, live.GoEnv(t, "GOVERSION")
	old := os.Getenv("GOBUNDLE_LIVE_OLD")
	if old == "" {
		old = "go1.23.4"
	}
	cache := os.Getenv("GOBUNDLE_LIVE_CACHE")
	if cache == "" {
		cache = filepath.Join(dir, "cache")
	}
	proj := filepath.Join(dir, "proj")
	writeFiles(t, proj, map[string]string{
		"go.mod":  "module example.com/needs127\n\ngo 1.27.0\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime\"\n)\n\nfunc main() { fmt.Println(\"built with\", runtime.Version()) }\n",
	})
	clean := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GOENV=off", "GOCACHE=" + gocache,
		"GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=", "GOINSECURE=", "GOFLAGS=-mod=mod", "GOSUMDB=" + gosumdb}
	create := func(out string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append([]string{"create", "-o", out, "--cache", cache}, args...)...)
		cmd.Env = append(clean, "GOPROXY="+proxy, "GOTOOLCHAIN=local", "GOPATH="+filepath.Join(dir, "gp0"))
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gobundle create %v: %v\n%s", args, err, b)
		}
		t.Logf("gobundle create %v:\n%s", args, b)
	}
	oldBundle, autoBundle := filepath.Join(dir, "old.gobundle"), filepath.Join(dir, "auto.gobundle")
	create(oldBundle, "--toolchain", old, "--platform", "linux/amd64", "golang.org/x/mod@v0.20.0")
	create(autoBundle, "--toolchain", "auto", proj)

	script := `set -e
ip link set lo up
serve() {
	"$GOBUNDLE" serve --listen 127.0.0.1:0 --poll 0 "$1" >"$WORKDIR/serve.out" 2>>"$WORKDIR/serve.err" &
	SERVE=$!
	for i in $(seq 300); do grep -q '^GOPROXY=' "$WORKDIR/serve.out" 2>/dev/null && break; sleep 0.1; done
	export $(grep '^GOPROXY=' "$WORKDIR/serve.out")
}
serve "$OLDBUNDLE"
export GOPATH="$WORKDIR/gp1" GOMODCACHE="$WORKDIR/gp1/pkg/mod"
cd "$WORKDIR"
echo "== GOTOOLCHAIN=$OLD go version"
GOTOOLCHAIN=$OLD go version
kill $SERVE; wait $SERVE || true

serve "$AUTOBUNDLE"
export GOPATH="$WORKDIR/gp2" GOMODCACHE="$WORKDIR/gp2/pkg/mod"
cd "$WORKDIR/proj"
echo "== GOTOOLCHAIN=local go version"
GOTOOLCHAIN=local go version
echo "== GOTOOLCHAIN=auto go build"
GOTOOLCHAIN=auto go build -o needs127 .
./needs127
kill $SERVE
`
	cmd := exec.CommandContext(ctx, "unshare", "--net", "sh", "-c", script)
	cmd.Env = append(clean, "GOBUNDLE="+bin, "OLDBUNDLE="+oldBundle, "AUTOBUNDLE="+autoBundle, "WORKDIR="+dir, "OLD="+old)
	out, err := cmd.CombinedOutput()
	serveErr, _ := os.ReadFile(filepath.Join(dir, "serve.err"))
	t.Logf("under the air gap:\n%s", out)
	if err != nil {
		t.Fatalf("under the air gap: %v\nserve log:\n%s", err, serveErr)
	}
	for _, want := range []string{"go version " + old + " linux/amd64", "go version " + local + " ", "built with go1.27.0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(string(serveErr), "/sumdb/") {
		t.Errorf("the go command asked serve for no checksum database answer:\n%s", serveErr)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		f := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(f), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
}
