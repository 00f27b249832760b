package main

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// serveDownloads runs `go mod download all` of the project with a cold
// client cache through nginx (on the unpacked tree) and through serve,
// interleaved: serve's first run makes its deflated zips (its zip cache
// starts empty), the later ones send them from the cache. It compares
// what a cold client downloads and keeps in its cache/download through
// serve and through unpack + file:// with what the mirror sent (the
// project tree is the cache/download of `go mod download all` through
// the mirror), and serve's time with nginx's.
func (b *bench) serveDownloads(ctx context.Context, t *tree, work, src, unpacked string, ng, sv *server) error {
	mirror, err := moduleBytes(t.Dir)
	if err != nil {
		return err
	}
	var viaNginx, viaServe []measurement
	var cold measurement
	var served sizes
	var servedWire map[string]int64
	download := func(url string) (measurement, sizes, error) {
		modcache := filepath.Join(work, "gomodcache")
		m, err := b.execute(ctx, proc{dir: src, env: b.goEnv(modcache, url, "off", "-mod=mod"), args: []string{"go", "mod", "download", "all"}})
		if err != nil {
			return m, sizes{}, fmt.Errorf("through %s: %w", url, err)
		}
		got, err := moduleBytes(filepath.Join(modcache, "cache", "download"))
		if err != nil {
			return m, sizes{}, err
		}
		b.log.Info("go mod download all (cold client) done", "proxy", url, "wall", m.Wall.Round(time.Millisecond), "zips", formatBytes(float64(got.zips)))
		return m, got, moveToTrash(work, modcache)
	}
	for i := 0; i <= serveRuns; i++ {
		m, _, err := download(ng.url)
		if err != nil {
			return err
		}
		viaNginx = append(viaNginx, m)
		before, err := serveBytes(ctx, sv.url)
		if err != nil {
			return err
		}
		m, got, err := download(sv.url)
		if err != nil {
			return err
		}
		if i == 0 {
			cold, served = m, got
			after, err := serveBytes(ctx, sv.url)
			if err != nil {
				return err
			}
			servedWire = map[string]int64{}
			for k, v := range after {
				if k != "metrics" {
					servedWire[k] = v - before[k]
				}
			}
			continue
		}
		viaServe = append(viaServe, m)
	}
	_, viaFile, err := download("file://" + filepath.ToSlash(unpacked))
	if err != nil {
		return err
	}

	dlCmd := func(proxy string) string {
		return fmt.Sprintf("cd %s && GOENV=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GOSUMDB=off GOPROXY=%s GOMODCACHE=$(mktemp -d) go mod download all", b.rel(t.ProjectDir), proxy)
	}
	mirrorCmd := "du -b of the project tree's .zip (.info, .mod) files: the cache/download of `go mod download all` through $(go env GOPROXY)"
	sizeFig := func(measure string, value, stock int64, cmd string) {
		b.rep.add(figure{Tree: "project", Measure: measure, Unit: unitBytes, Value: float64(value), Stock: float64(stock), HasStock: true,
			TargetMax: 1.1, TargetRatio: true, Runs: 1, Command: cmd, StockCommand: mirrorCmd})
	}
	sizeFig("zip bytes a cold client downloads via serve (/metrics; stock: what the mirror sent)", servedWire["zip"], mirror.zips,
		dlCmd("http://127.0.0.1:<serve port>")+"  # gobundle_serve_response_bytes_total{kind=\"zip\"} before and after")
	sizeFig("all bytes a cold client downloads via serve (/metrics; stock: .zip .mod .info the mirror sent)", sumValues(servedWire), mirror.all,
		dlCmd("http://127.0.0.1:<serve port>")+"  # gobundle_serve_response_bytes_total, all kinds")
	sizeFig("client cache/download zips after go mod download all via serve (stock: via the mirror)", served.zips, mirror.zips,
		dlCmd("http://127.0.0.1:<serve port>")+" && du -b $GOMODCACHE/cache/download/**/*.zip")
	sizeFig("zip bytes a cold client copies via unpack + file:// into cache/download (stock: via the mirror)", viaFile.zips, mirror.zips,
		dlCmd("file://<unpacked tree>")+" && du -b $GOMODCACHE/cache/download/**/*.zip")
	sizeFig("client cache/download .zip .mod .info after go mod download all via unpack + file:// (stock: via the mirror)", viaFile.all, mirror.all,
		dlCmd("file://<unpacked tree>")+" && du -b $GOMODCACHE/cache/download (.zip .mod .info)")

	b.rep.add(figure{Tree: "project", Measure: "go mod download all, cold client, via serve, zip cache warm (stock: nginx on the unpacked tree)", Unit: unitSeconds,
		Value: medianWall(viaServe), Stock: medianWall(viaNginx), HasStock: true, TargetMax: 1.1, TargetRatio: true, Runs: len(viaServe),
		Command: dlCmd("http://127.0.0.1:<serve port>"), StockCommand: dlCmd("http://127.0.0.1:<nginx port>")})
	b.rep.add(figure{Tree: "project", Measure: "go mod download all, cold client, via serve, first run: zip cache cold, serve deflates (stock: nginx)", Unit: unitSeconds,
		Value: cold.Wall.Seconds(), Stock: medianWall(viaNginx), HasStock: true, Runs: 1,
		Command: dlCmd("http://127.0.0.1:<serve port>") + "  # serve --zip-cache <empty dir>", StockCommand: dlCmd("http://127.0.0.1:<nginx port>")})
	b.rep.addNote("serve zips: a cold client got %s of zips from serve where the mirror sent %s (%.3f×); unpack's tree holds them deflated too, so nginx and file:// send the same bytes. Serve's zip cache: %s after the first run.",
		formatBytes(float64(servedWire["zip"])), formatBytes(float64(mirror.zips)), float64(servedWire["zip"])/float64(max(1, mirror.zips)), formatBytes(float64(dirBytes(filepath.Join(work, "serve-zips")))))
	return nil
}

// sizes are the bytes of a GOPROXY tree's module files.
type sizes struct{ zips, all int64 }

// moduleBytes adds up the .zip, .mod and .info files of a GOPROXY tree
// (no checksum database, lists or litter).
func moduleBytes(dir string) (sizes, error) {
	var s sizes
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "sumdb" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(p)
		if ext != ".zip" && ext != ".mod" && ext != ".info" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		s.all += info.Size()
		if ext == ".zip" {
			s.zips += info.Size()
		}
		return nil
	})
	return s, err
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// serveBytes reads gobundle_serve_response_bytes_total by kind from
// serve's /metrics.
func serveBytes(ctx context.Context, url string) (map[string]int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	const prefix = `gobundle_serve_response_bytes_total{kind="`
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		kind, num, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("serve /metrics: %q: %v", sc.Text(), err)
		}
		out[kind] = n
	}
	return out, sc.Err()
}
