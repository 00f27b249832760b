package vulndb

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit"
)

// TestLive is acceptance 3 of issue 19, against the real upstream. With
// GOBUNDLE_LIVE=1 (and network, root, unshare and ip) it bundles, from this
// machine's upstream (go env GOPROXY) and checksum database (go env
// GOSUMDB), a project pinning golang.org/x/net v0.23.0 (whose html.Parse
// has GO-2024-3333), golang.org/x/vuln@v1.9.0 and the vulnerability
// database (--vulndb: the newest golang.org/x/vulndb listed); then, inside a
// network namespace with loopback only, serves the bundle, installs
// govulncheck from it with go install and runs it with -db on serve's
// /vulndb: it must report GO-2024-3333.
//
//	GOBUNDLE_LIVE=1 go test ./internal/vulndb -run TestLive -v
func TestLive(t *testing.T) {
	live := testkit.StartLive(t, 15*time.Minute)
	ctx, dir, bin := live.Ctx, live.Dir, live.Bin
	proxy, gosumdb, gocache := live.Proxy, live.GoSumDB, live.GOCACHE
	clean := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GOENV=off", "GOTOOLCHAIN=local", "GOCACHE=" + gocache,
		"GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=", "GOINSECURE=", "GOFLAGS=-mod=mod", "GOSUMDB=" + gosumdb}
	proj := filepath.Join(dir, "proj")
	os.MkdirAll(proj, 0o777)
	os.WriteFile(filepath.Join(proj, "go.mod"), []byte("module example.com/livevuln\n\ngo 1.22\n\nrequire golang.org/x/net v0.23.0\n"), 0o666)
	os.WriteFile(filepath.Join(proj, "main.go"), []byte(`package main

import (
	"fmt"
	"strings"

	"golang.org/x/net/html"
)

func main() {
	doc, err := html.Parse(strings.NewReader("<p>hello"))
	fmt.Println(doc != nil, err)
}
`), 0o666)
	run := func(env []string, dir, name string, args ...string) string {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	online := append(clean, "GOPROXY="+proxy, "GOPATH="+filepath.Join(dir, "gp0"))
	run(online, proj, "go", "mod", "tidy")
	b := filepath.Join(dir, "live.gobundle")
	out := run(online, proj, bin, "create", "-o", b, "--cache", filepath.Join(dir, "cache"), "--vulndb", ".", "golang.org/x/vuln@v1.9.0")
	t.Logf("%s", out)
	if !strings.Contains(out, "vulnerability database "+ModulePath+"@") {
		t.Fatalf("create names no vulnerability database:\n%s", out)
	}

	script := `set -e
ip link set lo up
"$GOBUNDLE" serve --listen 127.0.0.1:0 --poll 0 "$BUNDLE" >"$WORKDIR/serve.out" 2>"$WORKDIR/serve.err" &
SERVE=$!
trap 'kill $SERVE' EXIT
for i in $(seq 300); do grep -q '^GOPROXY=' "$WORKDIR/serve.out" 2>/dev/null && break; sleep 0.1; done
export $(grep '^GOPROXY=' "$WORKDIR/serve.out")
cd "$WORKDIR/proj"
go install golang.org/x/vuln/cmd/govulncheck@v1.9.0
set +e
"$GOBIN/govulncheck" -db "$GOPROXY/vulndb" ./...
echo "govulncheck exit $?"
`
	cmd := exec.CommandContext(ctx, "unshare", "--net", "sh", "-c", script)
	cmd.Env = append(clean, "GOBUNDLE="+bin, "BUNDLE="+b, "WORKDIR="+dir, "GOBIN="+filepath.Join(dir, "bin"),
		"GOPATH="+filepath.Join(dir, "gp1"), "GOMODCACHE="+filepath.Join(dir, "gp1", "pkg", "mod"))
	outb, err := cmd.CombinedOutput()
	serveErr, _ := os.ReadFile(filepath.Join(dir, "serve.err"))
	if err != nil {
		t.Fatalf("under the air gap: %v\n%s\nserve log:\n%s", err, outb, serveErr)
	}
	t.Logf("under the air gap:\n%s", outb)
	for _, want := range []string{"GO-2024-3333", "govulncheck exit 3", "html.Parse"} {
		if !strings.Contains(string(outb), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
