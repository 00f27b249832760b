package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// unionProjects are the large real projects whose union the memory stage
// bundles in one create (737 MB of bundle at the default level). They
// are module@version inputs, so go install's rules apply: their replace
// directives do not, which rules out projects such as traefik (a replace
// of an unpublished v0.0.0), gitea (a module host this mirror refuses)
// and vault (a go.mod the checksum database does not know).
func unionProjects() []string {
	return []string{
		"github.com/gohugoio/hugo@v0.139.0",
		"github.com/caddyserver/caddy/v2@v2.8.4",
		"github.com/prometheus/prometheus@v0.55.1",
		"github.com/cli/cli/v2@v2.62.0",
		"github.com/ethereum/go-ethereum@v1.14.11",
		"github.com/grafana/loki/v3@v3.3.0",
		"github.com/hashicorp/consul@v1.20.1",
	}
}

// unionMinBundle is the bundle size the union must reach for its peak
// RSS to show that memory does not grow with the input.
const unionMinBundle = 500e6

// stageMemory measures the peak RSS of a cold create of the union of
// several large projects (module@version inputs, go install's rules)
// through the mirror chain of `go env`, once: memory, unlike time, does
// not vary with the machine's load.
func (b *bench) stageMemory(ctx context.Context) error {
	if err := b.needBin(); err != nil {
		return err
	}
	work := b.outPath("memory")
	if err := removeAll(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	projects := unionProjects()
	bundle := filepath.Join(work, "union.gobundle")
	env := b.goEnv(filepath.Join(work, "gomodcache"), b.goenv.GOPROXY, b.goenv.GOSUMDB, "")
	b.log.Info("memory: gobundle create of the union (cold)", "projects", strings.Join(projects, " "))
	args := append([]string{b.cfg.bin, "create"}, projects...)
	args = append(args, "-o", bundle, "--cache", filepath.Join(work, "cache"), "-q")
	m, err := b.execute(ctx, proc{dir: work, env: env, args: args})
	if err != nil {
		return err
	}
	size := fileSize(bundle)
	cmd := fmt.Sprintf("GOENV=off GOTOOLCHAIN=local GOPROXY=%s GOSUMDB=%s %s create %s -o union.gobundle --cache $(mktemp -d)",
		shellQuote([]string{b.goenv.GOPROXY}), shellQuote([]string{b.goenv.GOSUMDB}), b.binRel(), strings.Join(projects, " "))
	b.rep.add(figure{Tree: "union", Measure: "memory: create cold peak RSS, union of " + fmt.Sprint(len(projects)) + " large projects", Unit: unitBytes,
		Value: float64(m.MaxRSS), TargetMax: memoryTarget, Runs: 1, Note: fmt.Sprintf("bundle %.0f MB, %.0f s wall", float64(size)/1e6, m.Wall.Seconds()), Command: cmd})
	b.rep.add(figure{Tree: "union", Measure: "memory: union bundle size", Unit: unitBytes, Value: float64(size), Runs: 1, Command: cmd})
	b.rep.addCheck("memory", "union bundle is at least 500 MB", float64(size) >= unionMinBundle, fmt.Sprintf("%d bytes", size), cmd)
	b.discard(work)
	return nil
}
