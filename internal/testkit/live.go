package testkit

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Live is what the GOBUNDLE_LIVE=1 tests against this machine's upstream
// share: a context, the test's directory, the host go command's GOPROXY,
// GOSUMDB and GOCACHE, and gobundle built from this repository.
type Live struct {
	Ctx                     context.Context
	Dir                     string
	Proxy, GoSumDB, GOCACHE string
	Bin                     string // gobundle, built into Dir
}

// StartLive skips t unless GOBUNDLE_LIVE=1, fails it without unshare, ip
// or go (the air gap needs the first two), and returns the live setup,
// whose context ends after timeout or with t.
func StartLive(t *testing.T, timeout time.Duration) *Live {
	t.Helper()
	if os.Getenv("GOBUNDLE_LIVE") != "1" {
		t.Skip("set GOBUNDLE_LIVE=1 to run against this machine's upstream and checksum database")
	}
	for _, tool := range []string{"unshare", "ip", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("GOBUNDLE_LIVE=1 needs %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	l := &Live{Ctx: ctx, Dir: t.TempDir()}
	l.Proxy, l.GoSumDB, l.GOCACHE = l.GoEnv(t, "GOPROXY"), l.GoEnv(t, "GOSUMDB"), l.GoEnv(t, "GOCACHE")
	l.Bin = filepath.Join(l.Dir, "gobundle")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", l.Bin, "github.com/gobundle/gobundle/cmd/gobundle").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return l
}

// GoEnv returns the host go command's `go env key`.
func (l *Live) GoEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.CommandContext(l.Ctx, "go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return strings.TrimSpace(string(out))
}
