package fakeproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

func start(t *testing.T, seed uint64) *Server {
	t.Helper()
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	s := Start(set, seed)
	t.Cleanup(s.Close)
	return s
}

// result is one fetch: status, body, read error.
type result struct {
	status int
	body   []byte
	err    error
}

// fetch GETs path with a fresh connection (so a fault that cuts one does
// not affect the next fetch).
func fetch(t *testing.T, s *Server, method, path string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	if pemData := s.CertPEM(); pemData != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemData)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, body: body, err: err}
}

// settled returns the log once every logged request is done.
func settled(t *testing.T, s *Server) []Request {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		reqs := s.Requests()
		done := true
		for _, r := range reqs {
			done = done && r.Done
		}
		if done {
			return reqs
		}
	}
	t.Fatal("requests still running after 10s")
	return nil
}

func TestProtocol(t *testing.T) {
	s := start(t, 1)
	m, _ := s.Set().Lookup("example.com/Upper/Mod", "v1.1.0-RC1")
	zipData, err := m.Zip()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		status int
		body   string // substring
	}{
		{"/example.com/b/@v/list", 200, "v1.0.0\nv1.1.0\nv1.2.0\n"},
		{"/example.com/pseudo/@v/list", 200, ""},
		{"/example.com/!upper/!mod/@v/list", 200, "v1.0.0\nv1.1.0-RC1\n"},
		{"/example.com/!upper/!mod/@v/v1.1.0-!r!c1.info", 200, `"Version": "v1.1.0-RC1"`},
		{"/example.com/!upper/!mod/@v/v1.1.0-!r!c1.mod", 200, "module example.com/Upper/Mod"},
		{"/example.com/!upper/!mod/@v/v1.1.0-!r!c1.zip", 200, string(zipData)},
		{"/example.com/!upper/!mod/@latest", 200, `"Version": "v1.0.0"`},
		{"/example.com/pre/@latest", 200, `"Version": "v1.0.0-rc.1"`},
		{"/example.com/pseudo/@latest", 200, `"Version": "v0.0.0-20240101120000-0123456789ab"`},
		{"/example.com/Upper/Mod/@v/list", 404, "not found"},
		{"/example.com/@v/list", 404, "not found: module example.com"},
		{"/example.com/a/@v/v9.9.9.info", 404, "not found: example.com/a@v9.9.9"},
		{"/example.com/a/@v/v1.0.0.tar", 404, "not found"},
		{"/nothing", 404, "not found"},
		{"/sumdb/x/supported", 404, "no checksum database"},
	} {
		r := fetch(t, s, "GET", tc.path)
		if r.err != nil || r.status != tc.status || !strings.Contains(string(r.body), tc.body) {
			t.Errorf("GET %s = %d %q %v, want %d with %q", tc.path, r.status, r.body, r.err, tc.status, tc.body)
		}
	}
	if r := fetch(t, s, "HEAD", "/example.com/b/@v/v1.0.0.zip"); r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
	if r := fetch(t, s, "POST", "/example.com/b/@v/list"); r.status != 405 {
		t.Errorf("POST: %d", r.status)
	}
	reqs := settled(t, s)
	if len(reqs) != 17 || reqs[0].Path != "/example.com/b/@v/list" || reqs[0].Status != 200 || reqs[0].Method != "GET" {
		t.Errorf("log: %v", reqs)
	}
	if n := s.Count("/example.com/!upper/!mod/*"); n != 5 {
		t.Errorf("Count(Upper/Mod) = %d, want 5", n)
	}
	s.ResetLog()
	if len(s.Requests()) != 0 {
		t.Error("ResetLog left entries")
	}
}

func TestMountSumDB(t *testing.T) {
	s := start(t, 1)
	s.MountSumDB("db.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "sumdb saw %s", r.URL.Path)
	}))
	if r := fetch(t, s, "GET", "/sumdb/db.test/supported"); r.status != 200 || len(r.body) != 0 {
		t.Errorf("supported: %d %q", r.status, r.body)
	}
	if r := fetch(t, s, "GET", "/sumdb/db.test/lookup/example.com/a@v1.0.0"); string(r.body) != "sumdb saw /lookup/example.com/a@v1.0.0" {
		t.Errorf("lookup passed as %q", r.body)
	}
}

func TestStatusFaults(t *testing.T) {
	for _, k := range []Kind{NotFound, Gone, Forbidden, ServerError} {
		t.Run(string(k), func(t *testing.T) {
			s := start(t, 1)
			if err := s.AddFault(Fault{Kind: k, Pattern: "/example.com/a/*"}); err != nil {
				t.Fatal(err)
			}
			r := fetch(t, s, "GET", "/example.com/a/@v/v1.0.0.mod")
			if fmt.Sprint(r.status) != string(k) || !strings.Contains(string(r.body), "injected fault "+string(k)) {
				t.Errorf("faulted: %d %q", r.status, r.body)
			}
			if r := fetch(t, s, "GET", "/example.com/b/@v/v1.0.0.mod"); r.status != 200 {
				t.Errorf("unmatched path: %d", r.status)
			}
			if got := settled(t, s)[0]; got.Fault != k || fmt.Sprint(got.Status) != string(k) {
				t.Errorf("log: %v", got)
			}
		})
	}
}

func TestLatestNotFound(t *testing.T) {
	s := start(t, 1)
	if err := s.AddFault(Fault{Kind: LatestNotFound}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if r := fetch(t, s, "GET", "/example.com/a/@latest"); r.status != 404 {
			t.Errorf("@latest: %d", r.status)
		}
	}
	if r := fetch(t, s, "GET", "/example.com/a/@v/list"); r.status != 200 {
		t.Errorf("list: %d", r.status)
	}
}

func TestLatency(t *testing.T) {
	s := start(t, 1)
	if err := s.AddFault(Fault{Kind: Latency, Pattern: "*.zip", Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	r := fetch(t, s, "GET", "/example.com/a/@v/v1.0.0.zip")
	m, _ := s.Set().Lookup("example.com/a", "v1.0.0")
	want, _ := m.Zip()
	if r.status != 200 || !bytes.Equal(r.body, want) {
		t.Fatalf("latency changed the answer: %d", r.status)
	}
	if got := settled(t, s)[0]; got.Fault != Latency || got.Duration < 50*time.Millisecond {
		t.Errorf("log: %v after %v", got, got.Duration)
	}
}

func TestCutFaults(t *testing.T) {
	for _, k := range []Kind{Reset, Truncate} {
		t.Run(string(k), func(t *testing.T) {
			s := start(t, 1)
			if err := s.AddFault(Fault{Kind: k, Pattern: "*.zip"}); err != nil {
				t.Fatal(err)
			}
			mod, _ := s.Set().Lookup("example.com/c", "v1.0.0")
			full, _ := mod.Zip()
			r := fetch(t, s, "GET", "/example.com/c/@v/v1.0.0.zip")
			if r.err == nil || len(r.body) >= len(full) {
				t.Fatalf("%s: read %d of %d bytes, err %v", k, len(r.body), len(full), r.err)
			}
			switch k {
			case Reset:
				if !errors.Is(r.err, syscall.ECONNRESET) {
					t.Errorf("reset: err %v, want connection reset", r.err)
				}
			case Truncate:
				if !errors.Is(r.err, io.ErrUnexpectedEOF) || len(r.body) != len(full)/2 {
					t.Errorf("truncate: %d bytes, err %v", len(r.body), r.err)
				}
			}
			if got := settled(t, s)[0]; got.Fault != k || got.Bytes != len(full)/2 {
				t.Errorf("log: %v, %d bytes", got, got.Bytes)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	s := StartTLS(set, 1)
	defer s.Close()
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") || s.CertPEM() == nil {
		t.Fatalf("URL %s", s.URL)
	}
	if r := fetch(t, s, "GET", "/example.com/a/@v/list"); r.status != 200 || string(r.body) != "v1.0.0\nv1.1.0\n" {
		t.Errorf("list over TLS: %d %q %v", r.status, r.body, r.err)
	}
	for _, k := range []Kind{Reset, Truncate} {
		s.ClearFaults()
		if err := s.AddFault(Fault{Kind: k, Pattern: "*.zip"}); err != nil {
			t.Fatal(err)
		}
		if r := fetch(t, s, "GET", "/example.com/c/@v/v1.0.0.zip"); r.err == nil {
			t.Errorf("%s over TLS: read all %d bytes", k, len(r.body))
		}
	}
}

func TestCorrupt(t *testing.T) {
	positions := map[uint64][]int{}
	for _, seed := range []uint64{1, 1, 2} {
		s := start(t, seed)
		if err := s.AddFault(Fault{Kind: Corrupt, Pattern: "*.zip"}); err != nil {
			t.Fatal(err)
		}
		var pos []int
		for _, v := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
			mod, _ := s.Set().Lookup("example.com/b", v)
			full, _ := mod.Zip()
			r := fetch(t, s, "GET", "/example.com/b/@v/"+v+".zip")
			if r.err != nil || r.status != 200 || len(r.body) != len(full) {
				t.Fatalf("corrupt: %d, %d bytes of %d, %v", r.status, len(r.body), len(full), r.err)
			}
			diff := -1
			for i := range full {
				if full[i] != r.body[i] {
					if diff >= 0 {
						t.Fatalf("more than one byte differs")
					}
					diff = i
				}
			}
			if diff < 0 {
				t.Fatal("corrupt body is intact")
			}
			pos = append(pos, diff)
		}
		if old, ok := positions[seed]; ok && fmt.Sprint(old) != fmt.Sprint(pos) {
			t.Errorf("seed %d: corrupted bytes %v then %v", seed, old, pos)
		}
		positions[seed] = pos
	}
	if fmt.Sprint(positions[1]) == fmt.Sprint(positions[2]) {
		t.Errorf("seeds 1 and 2 corrupt the same bytes %v", positions[1])
	}
}

func TestTrickle(t *testing.T) {
	s := start(t, 1)
	if err := s.AddFault(Fault{Kind: Trickle, Pattern: "*.zip", Chunk: 100, Delay: 2 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	mod, _ := s.Set().Lookup("example.com/c", "v1.0.0")
	full, _ := mod.Zip()
	r := fetch(t, s, "GET", "/example.com/c/@v/v1.0.0.zip")
	if r.err != nil || !bytes.Equal(r.body, full) {
		t.Fatalf("trickle: %v, %d of %d bytes", r.err, len(r.body), len(full))
	}
	pauses := (len(full) - 1) / 100
	if got := settled(t, s)[0]; got.Fault != Trickle || got.Duration < time.Duration(pauses)*2*time.Millisecond {
		t.Errorf("log: %v after %v, want at least %d pauses", got, got.Duration, pauses)
	}
}

func TestFirstN(t *testing.T) {
	s := start(t, 1)
	if err := s.AddFault(Fault{Kind: ServerError, Pattern: "*.mod", First: 2}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/example.com/a/@v/v1.0.0.mod", "/example.com/b/@v/v1.0.0.mod"} {
		var got []int
		for i := 0; i < 4; i++ {
			got = append(got, fetch(t, s, "GET", p).status)
		}
		if fmt.Sprint(got) != "[500 500 200 200]" {
			t.Errorf("%s: statuses %v", p, got)
		}
	}
}

// TestRandomDeterministic checks that which requests a random fault hits,
// and with which kind, depends only on the seed.
func TestRandomDeterministic(t *testing.T) {
	run := func(seed uint64) string {
		s := start(t, seed)
		if err := s.AddFault(Fault{Kind: Random, Prob: 0.5, Kinds: []Kind{NotFound, ServerError, Gone, Forbidden}}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, m := range s.Set().Modules() {
			p := "/" + m.Path + "/@v/" + m.Version + ".info"
			if strings.ContainsAny(m.Path, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
				continue
			}
			for i := 0; i < 2; i++ {
				fmt.Fprintf(&b, "%s %d\n", p, fetch(t, s, "GET", p).status)
			}
		}
		return b.String()
	}
	a, b, c := run(7), run(7), run(8)
	if a != b {
		t.Errorf("seed 7 twice:\n%s\n%s", a, b)
	}
	if a == c {
		t.Error("seeds 7 and 8 fault the same requests")
	}
	faulted := strings.Count(a, " 200\n")
	total := strings.Count(a, "\n")
	if faulted == 0 || faulted == total {
		t.Errorf("prob 0.5: %d of %d requests passed", faulted, total)
	}
	for _, k := range []string{" 404\n", " 500\n"} {
		if !strings.Contains(a, k) {
			t.Errorf("no%s among random faults", strings.TrimSpace(k))
		}
	}
}

func TestBadFault(t *testing.T) {
	s := start(t, 1)
	if err := s.AddFault(Fault{Kind: "boom"}); err == nil {
		t.Error("unknown kind accepted")
	}
	if f := (Fault{Kind: Trickle, First: 1, Chunk: 8, Pattern: "*.zip"}).String(); f != "-first 1 -chunk 8 trickle *.zip" {
		t.Errorf("String = %q", f)
	}
}

func TestRequireAuth(t *testing.T) {
	s := start(t, 1)
	s.RequireAuth("alice", "s3cret")
	if r := fetch(t, s, "GET", "/example.com/a/@v/list"); r.status != 401 {
		t.Errorf("without credentials: %d", r.status)
	}
	u := s.URL
	s.URL = strings.Replace(u, "http://", "http://alice:wrong@", 1)
	if r := fetch(t, s, "GET", "/example.com/a/@v/list"); r.status != 401 {
		t.Errorf("wrong password: %d", r.status)
	}
	s.URL = strings.Replace(u, "http://", "http://alice:s3cret@", 1)
	if r := fetch(t, s, "GET", "/example.com/a/@v/list"); r.status != 200 {
		t.Errorf("with credentials: %d", r.status)
	}
	s.URL = u
	for _, r := range settled(t, s) {
		if strings.Contains(r.String(), "s3cret") {
			t.Errorf("log shows the password: %v", r)
		}
	}
}
