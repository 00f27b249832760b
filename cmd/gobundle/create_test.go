package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/pipeline"
)

// fakeEnv returns a getenv that knows only vars.
func fakeEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestGoEnvFromEnvironment(t *testing.T) {
	vars := map[string]string{}
	for _, k := range goEnvKeys() {
		vars[k] = "value-of-" + k
	}
	// Every key is set, so the go command is never asked: a PATH without
	// it proves that.
	e := &env{ctx: context.Background(), getenv: fakeEnv(vars)}
	t.Setenv("PATH", t.TempDir())
	got, err := e.goEnv(e.ctx, goEnvKeys())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range goEnvKeys() {
		if got[k] != vars[k] {
			t.Errorf("%s = %q, want %q", k, got[k], vars[k])
		}
	}
	direct := strings.Join(e.directEnv(got, "off"), "\n")
	for _, k := range []string{"GOFLAGS", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOAUTH"} {
		if !strings.Contains(direct, k+"=value-of-"+k) {
			t.Errorf("direct go command environment lacks %s: %s", k, direct)
		}
	}
	// What create was told reaches it: --sumdb off, and GOFLAGS without
	// -mod= (which, as -mod=vendor, would disable module lookups);
	// git's configuration from the environment too.
	vars["GOFLAGS"] = "-modcacherw -mod=vendor -trimpath"
	vars["GIT_CONFIG_COUNT"] = "1"
	vars["GIT_CONFIG_KEY_0"] = "url.http://127.0.0.1:1/.insteadOf"
	vars["GIT_CONFIG_VALUE_0"] = "https://git.corp.example/"
	got["GOFLAGS"] = vars["GOFLAGS"]
	env := e.directEnv(got, "off")
	for _, want := range []string{"GOSUMDB=off", "GOFLAGS=-modcacherw -trimpath", "GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=url.http://127.0.0.1:1/.insteadOf", "GIT_CONFIG_VALUE_0=https://git.corp.example/"} {
		if !slices.Contains(env, want) {
			t.Errorf("direct go command environment lacks %s: %q", want, env)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOSUMDB=") && kv != "GOSUMDB=off" {
			t.Errorf("direct go command gets %s, want only GOSUMDB=off", kv)
		}
	}
}

func TestCreateUsageErrors(t *testing.T) {
	dir := t.TempDir()
	getenv := fakeEnv(map[string]string{"GOPROXY": "off", "GOSUMDB": "off", "GOROOT": dir})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "-o", filepath.Join(dir, "x.gobundle"), filepath.Join(dir, "nowhere")}, "no such file or directory, and not module@version"},
		{[]string{"create", "-o", filepath.Join(dir, "x.gobundle"), "example.com/m@master"}, "not a full semantic version"},
		{[]string{"create", "--jobs", "0", "-o", filepath.Join(dir, "x.gobundle"), "example.com/m@v1.0.0"}, "--jobs must be at least 1"},
		{[]string{"create", "--retries=-1", "-o", filepath.Join(dir, "x.gobundle"), "example.com/m@v1.0.0"}, "--retries must not be negative"},
		{[]string{"create", "example.com/m@v1.0.0"}, "missing flags: --output"},
		{[]string{"create", "--compress-workers=-1", "-o", filepath.Join(dir, "x.gobundle"), "example.com/m@v1.0.0"}, "--compress-workers must be 0 (number of CPUs) or more"},
		// pack's former spellings: create's --jobs and --cache mean
		// something else, so they name the new flag.
		{[]string{"pack", "--jobs", "2", "-o", filepath.Join(dir, "x.gobundle"), dir}, "pack: --jobs is now --compress-workers"},
		{[]string{"pack", "--cache", dir, "-o", filepath.Join(dir, "x.gobundle"), dir}, "pack: --cache is now --compress-cache"},
		{[]string{"create", "--proxy", "ftp://a.test", "--cache", dir, "-o", filepath.Join(dir, "x.gobundle"), "example.com/m@v1.0.0"}, "invalid proxy URL scheme"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr, getenv)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("gobundle %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, stderr.String(), tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gobundle")); err == nil {
		t.Error("a usage error wrote a bundle")
	}
}

func TestCreateProgressPlain(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		var stderr bytes.Buffer
		p := newCreateProgress(&env{stderr: &stderr, quiet: quiet})
		p.event(pipeline.Event{Stage: "resolve", Item: "example.com/a@v1.0.0", Done: 1, Total: 2})
		p.event(pipeline.Event{Stage: "download", Item: "example.com/a@v1.0.0 zip", Bytes: 10})
		p.event(pipeline.Event{Stage: "verify", Item: "example.com/a@v1.0.0 zip", Done: 1, Total: 1})
		p.event(pipeline.Event{Stage: "verify", End: true})
		p.event(pipeline.Event{Stage: "compress", Done: 2048, Total: 2048})
		p.event(pipeline.Event{Stage: "add", Item: "example.com/a@v1.0.0", Done: 1, Total: 1})
		p.event(pipeline.Event{Stage: "warning", Item: "--cache-max: it failed"})
		p.finish()
		out := stderr.String()
		// Warnings are no progress: --quiet keeps them.
		const warning = "gobundle: create: warning: --cache-max: it failed\n"
		if quiet && out != warning {
			t.Errorf("quiet progress wrote %q", out)
		}
		for _, want := range []string{"resolving: 1/2 example.com/a@v1.0.0\n", "downloading zips: 1/1 example.com/a@v1.0.0 zip\n",
			"compressing: 2.0 KiB of 2.0 KiB\n", "adding: 1/1 example.com/a@v1.0.0\n", warning} {
			if !quiet && !strings.Contains(out, want) {
				t.Errorf("progress wrote %q, want %q in it", out, want)
			}
		}
	}
}

// TestSourceDateEpoch: SOURCE_DATE_EPOCH sets the recorded time; a value
// that is not a count of seconds is a usage error naming it, for create
// and pack alike, before anything is written.
func TestSourceDateEpoch(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"yesterday", "-5", "1.5"} {
		getenv := fakeEnv(map[string]string{"GOPROXY": "off", "GOSUMDB": "off", "GOROOT": dir, "SOURCE_DATE_EPOCH": bad})
		for _, args := range [][]string{
			{"create", "-o", filepath.Join(dir, "x.gobundle"), "example.com/m@v1.0.0"},
			{"pack", "-o", filepath.Join(dir, "x.gobundle"), dir},
		} {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr, getenv)
			if code != 2 || !strings.Contains(stderr.String(), "SOURCE_DATE_EPOCH") {
				t.Errorf("SOURCE_DATE_EPOCH=%s gobundle %s: exit %d, stderr %q; want exit 2 naming it", bad, args[0], code, stderr.String())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gobundle")); err == nil {
		t.Error("a usage error wrote a bundle")
	}
	e := &env{getenv: fakeEnv(map[string]string{"SOURCE_DATE_EPOCH": "1700000000"})}
	if got, err := e.created(); err != nil || got.Unix() != 1700000000 {
		t.Errorf("created() = %v, %v", got, err)
	}
}
