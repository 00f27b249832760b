package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/gobundle/gobundle/internal/testkit/fakeproxy"
	"github.com/gobundle/gobundle/internal/testkit/fixtures"
)

// TestBadArgumentsBeforeAnyWork: a bad flag or path is reported before any
// request or file read, with a one-line error naming it and exit 2 for
// bad usage, and the fake upstream sees no request at all.
func TestBadArgumentsBeforeAnyWork(t *testing.T) {
	set, err := fixtures.All()
	if err != nil {
		t.Fatal(err)
	}
	up := fakeproxy.Start(set, 1)
	defer up.Close()
	work := t.TempDir()
	proj := filepath.Join(work, "hello")
	if err := fixtures.WriteProject("hello", proj); err != nil {
		t.Fatal(err)
	}
	getenv := kitGetenv(work, up.URL)
	// A bundle that exists but would take reading to refuse.
	junk := filepath.Join(work, "junk.gobundle")
	if err := os.WriteFile(junk, make([]byte, 4096), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"create", proj, "--cache", filepath.Join(work, "cache"), "-o", "/nonexistent/dir/x.gobundle"}, 2,
			"gobundle: create: -o /nonexistent/dir/x.gobundle: directory /nonexistent/dir does not exist\n"},
		{[]string{"create", proj, "--cache", filepath.Join(work, "cache"), "-o", work}, 2, "is a directory"},
		{[]string{"verify", "--sumdb", "not-a-key", junk}, 2, `--sumdb "not-a-key": want name+key`},
		{[]string{"serve", "--listen", "8080", work}, 2, `serve: --listen "8080": want host:port`},
		{[]string{"verify", filepath.Join(work, "missing.gobundle")}, 1, "gobundle: " + filepath.Join(work, "missing.gobundle") + ": no such bundle file\n"},
		{[]string{"inspect", filepath.Join(work, "missing.gobundle")}, 1, "missing.gobundle: no such bundle file\n"},
	} {
		var stdout, stderr strings.Builder
		code := run(context.Background(), tc.args, &stdout, &stderr, getenv)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("gobundle %s: exit %d, stderr:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), code, stderr.String(), tc.code, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n > 0 && tc.code != 2 {
			t.Errorf("gobundle %s: %d lines of error, want one", strings.Join(tc.args, " "), n+1)
		}
	}
	if reqs := up.Requests(); len(reqs) > 0 {
		t.Errorf("the upstream was asked %d times, first %v", len(reqs), reqs[0])
	}
	if ents, _ := os.ReadDir(work); len(ents) != 2 { // hello, junk.gobundle: no cache made
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("left in the work directory: %v", names)
	}
}

// kitGetenv returns the environment of an in-process gobundle run against
// the kit's upstream at proxy: the kit's safe go settings under work, no
// checksum database.
func kitGetenv(work, proxy string) func(string) string {
	vars := map[string]string{"GOPROXY": proxy, "GOSUMDB": "off", "PATH": os.Getenv("PATH"), "HOME": work}
	for _, kv := range testkit.SafeGoEnv(work, "") {
		k, v, _ := strings.Cut(kv, "=")
		if _, set := vars[k]; !set {
			vars[k] = v
		}
	}
	return func(k string) string { return vars[k] }
}
