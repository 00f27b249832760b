//go:build unix

package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/gobundle/gobundle/internal/testkit/tally"
)

// nginxConf is the load balancer of docs/DEPLOY.md, on loopback, with its
// files under DIR: two serve replicas, passive health checks (a replica
// that fails is left alone for fail_timeout) and retries of a failed
// request on the other replica.
const nginxConf = `worker_processes 1;
pid DIR/nginx.pid;
error_log DIR/error.log;
daemon off;
events { worker_connections 512; }
http {
	log_format up '$request_uri $status $upstream_addr $upstream_status';
	access_log DIR/access.log up;
	client_body_temp_path DIR/tmp;
	proxy_temp_path DIR/tmp;
	fastcgi_temp_path DIR/tmp;
	uwsgi_temp_path DIR/tmp;
	scgi_temp_path DIR/tmp;
	upstream gobundle {
		server REPLICA1 max_fails=1 fail_timeout=30s;
		server REPLICA2 max_fails=1 fail_timeout=30s;
		keepalive 16;
	}
	server {
		listen LISTEN;
		location / {
			proxy_pass http://gobundle;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_next_upstream error timeout http_502 http_503 http_504;
			proxy_next_upstream_tries 2;
			proxy_connect_timeout 2s;
			proxy_read_timeout 60s;
		}
	}
}
`

// startReplica starts `gobundle serve` of bundle on a free loopback port
// and returns its process and host:port.
func startReplica(t *testing.T, bin, bundle string, env []string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append(append([]string{"serve", "--listen", "127.0.0.1:0"}, extra...), bundle)...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "GOPROXY=http://"); ok {
			go io.Copy(io.Discard, out)
			return cmd, p
		}
	}
	t.Fatalf("serve printed no GOPROXY= line")
	return nil, ""
}

// freeAddr returns a loopback host:port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestReplicasBehindNginx: two serve replicas of one bundle behind nginx
// (docs/DEPLOY.md); one is killed with SIGKILL in the middle of a `go mod
// download all` through nginx, and the download still succeeds, every
// module verified against go.sum and the checksum database, the other
// replica answering the rest.
func TestReplicasBehindNginx(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
		if _, err := os.Stat(nginx); err != nil {
			t.Skip("nginx is not installed (make test-deps installs it from Debian): the replica-kill test needs it")
		}
	}
	bin, err := exec.LookPath("gobundle") // testscript's copy of this test binary
	if err != nil {
		t.Fatal(err)
	}
	gocache, err := testkit.HostGOCACHE(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := newFaultKit(t, 40, 64<<10)
	b := filepath.Join(k.work, "heavy.gobundle")
	if code, stderr := k.create(t, k.upstream(t, 1), b, filepath.Join(k.work, "cache")); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	env := append(testkit.SafeGoEnv(k.work, gocache), "PATH="+os.Getenv("PATH"), "HOME="+k.work)
	rep1, addr1 := startReplica(t, bin, b, env, "--sumdb", k.db.VerifierKey())
	_, addr2 := startReplica(t, bin, b, env, "--sumdb", k.db.VerifierKey())

	proxy, ndir := startNginx(t, nginx, addr1, addr2)

	dl := exec.Command("go", "mod", "download", "all")
	dl.Dir = k.proj
	dl.Env = append(env, "GOPROXY="+proxy, "GOSUMDB="+k.db.VerifierKey(), "GOFLAGS=-mod=mod", "GOMODCACHE="+filepath.Join(k.work, "modcache"))
	var dlOut strings.Builder
	dl.Stdout, dl.Stderr = &dlOut, &dlOut
	if err := dl.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill replica 1 once a few zips went through nginx, while the rest
	// are still to come.
	access := filepath.Join(ndir, "access.log")
	var before int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		data, _ := os.ReadFile(access)
		before = strings.Count(string(data), ".zip ")
		if before >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no zips through nginx after a minute:\n%s", data)
		}
	}
	rep1.Process.Kill()
	tally.Add(t, tally.Faults, 1)
	if err := dl.Wait(); err != nil {
		data, _ := os.ReadFile(access)
		t.Fatalf("go mod download all with a replica killed: %v\n%s\nnginx log:\n%s", err, dlOut.String(), data)
	}
	data, _ := os.ReadFile(access)
	log := string(data)
	zips := strings.Count(log, ".zip ")
	after := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ".zip ") && strings.HasSuffix(line, addr2+" 200") {
			after++
		}
	}
	tally.Add(t, tally.Requests, int64(strings.Count(log, "\n")))
	t.Logf("%d zips through nginx, %d before the kill; replica 2 answered %d", zips, before, after)
	if zips < 40 || zips-before < 10 {
		t.Errorf("%d zips, %d before the kill: the kill was not in the middle of the download", zips, before)
	}
	verify := exec.Command("go", "mod", "verify")
	verify.Dir = k.proj
	verify.Env = dl.Env
	if out, err := verify.CombinedOutput(); err != nil || !strings.Contains(string(out), "all modules verified") {
		t.Errorf("go mod verify: %v\n%s", err, out)
	}
}

// startNginx runs nginx as the load balancer of the replicas at addr1 and
// addr2 on a free loopback port, its files in a new directory; it returns
// the balancer's URL once it answers /healthz, and that directory.
func startNginx(t *testing.T, nginx, addr1, addr2 string) (string, string) {
	t.Helper()
	ndir := t.TempDir()
	os.Mkdir(filepath.Join(ndir, "tmp"), 0o777)
	os.Chmod(filepath.Join(ndir, "tmp"), 0o777)
	listen := freeAddr(t)
	conf := strings.NewReplacer("DIR", ndir, "REPLICA1", addr1, "REPLICA2", addr2, "LISTEN", listen).Replace(nginxConf)
	if err := os.WriteFile(filepath.Join(ndir, "nginx.conf"), []byte(conf), 0o666); err != nil {
		t.Fatal(err)
	}
	ng := exec.Command(nginx, "-p", ndir, "-c", filepath.Join(ndir, "nginx.conf"))
	ng.Stderr = os.Stderr
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ng.Process.Kill(); ng.Wait() })
	proxy := "http://" + listen
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(proxy + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			errlog, _ := os.ReadFile(filepath.Join(ndir, "error.log"))
			t.Fatalf("nginx did not answer on %s:\n%s", listen, errlog)
		}
	}
	return proxy, ndir

}
