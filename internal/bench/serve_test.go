package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:8080/example.com/a/@v/v1.0.0.mod
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.05ms  412.00us  12.34ms   80.00%
    Req/Sec    30.12k     2.01k   35.00k    70.00%
  600000 requests in 10.00s, 120.00MB read
Requests/sec:  60012.34
Transfer/sec:     12.00MB
`
	rps, err := parseWrk(out)
	if err != nil || rps != 60012.34 {
		t.Errorf("parseWrk = %v, %v; want 60012.34", rps, err)
	}
	bad := strings.Replace(out, "Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec", 1)
	if _, err := parseWrk(bad); err == nil || !strings.Contains(err.Error(), "12 non-2xx") {
		t.Errorf("parseWrk with 404s: err = %v, want one naming 12 non-2xx responses", err)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk without a Requests/sec line: no error")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tgobundle\nVmPeak:\t  900000 kB\nVmRSS:\t   40960 kB\nRssAnon:\t 30000 kB\n"
	if got := parseVmRSS(status); got != 40960*1024 {
		t.Errorf("parseVmRSS = %d, want %d", got, 40960*1024)
	}
	if got := parseVmRSS("Name:\tx\n"); got != 0 {
		t.Errorf("parseVmRSS without VmRSS = %d, want 0", got)
	}
}

func TestNginxConf(t *testing.T) {
	conf := nginxConf("/p", "/srv/tree", 4242, false)
	for _, want := range []string{"listen 127.0.0.1:4242;", "root /srv/tree;", "sendfile on;", "worker_processes 2;", "pid /p/nginx.pid;", "autoindex off;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "user root") {
		t.Error("nginx.conf sets user root when not running as root")
	}
	if !strings.HasPrefix(nginxConf("/p", "/srv/tree", 4242, true), "user root;\n") {
		t.Error("nginx.conf as root does not start with user root")
	}
}

func TestCountSumDB(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"sumdb/db.example/lookup/example.com/a@v1.0.0": "record",
		"sumdb/db.example/tile/8/0/000":                "tile0",
		"sumdb/db.example/tile/8/1/000.p/3":            "tile",
		"example.com/a/@v/v1.0.0.mod":                  "module example.com/a\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := countSumDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.lookups != 1 || c.tiles != 2 || c.bytes != int64(len("record")+len("tile0")+len("tile")) {
		t.Errorf("countSumDB = %+v, want 1 lookup, 2 tiles, 15 bytes", c)
	}
	if c, err := countSumDB(t.TempDir()); err != nil || c != (sumdbCount{}) {
		t.Errorf("countSumDB of a tree without sumdb = %+v, %v; want zero, nil", c, err)
	}
}

func TestServe20PickClients(t *testing.T) {
	var projs []serve20Project
	for i, size := range []int64{90, 10, 50, 30, 70, 20, 80, 40, 60, 100} {
		projs = append(projs, serve20Project{Project: fmt.Sprintf("p%d", i), Size: size})
	}
	got := serve20PickClients(projs)
	if len(got) != serve20Clients {
		t.Fatalf("%d clients, want %d", len(got), serve20Clients)
	}
	for i, p := range got {
		if p.Size != int64(10*(i+1)) {
			t.Errorf("client %d: bundle of %d bytes, want the %d smallest in order", i, p.Size, serve20Clients)
		}
	}
	if n, err := parseMiB("128MiB"); err != nil || n != 128<<20 {
		t.Errorf("parseMiB(128MiB) = %d, %v", n, err)
	}
	if _, err := parseMiB("128MB"); err == nil {
		t.Error("parseMiB(128MB) accepted")
	}
}
