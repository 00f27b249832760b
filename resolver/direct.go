package resolver

import (
	"bytes"
	"context"
	"encoding/json"

	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
)

// # Direct
//
// "direct" is delegated to the local go command, which knows version
// control systems, GOINSECURE, GOPRIVATE, .netrc and GOFLAGS:
//
//	GOPROXY=direct go list -m -json M@V         (info, mod)
//	GOPROXY=direct go mod download -json M@V    (zip)
//
// run in an empty directory with GOMODCACHE=CacheDir/direct/modcache and
// GOWORK=off, in the environment MirrorConfig.GoEnv (which cmd/gobundle
// builds; nil gives the go command only the variables set here). The files
// the go command wrote to its module cache are then copied into the
// download cache.

// goModuleJSON is the part of `go list -m -json` and `go mod download -json`
// output used here.
type goModuleJSON struct {
	Path     string
	Version  string
	Info     string // go mod download only
	GoMod    string
	Zip      string   // go mod download only
	Versions []string // go list -m -versions only
	Error    json.RawMessage
}

// directError is the go command's report of a failed direct fetch.
type directError struct {
	msg      string
	notFound bool
}

func (e *directError) Error() string { return "direct: " + e.msg }
func (e *directError) Is(target error) bool {
	return e.notFound && target == fs.ErrNotExist
}

// fetchDirect fetches module@version's file of the given kind with the go
// command and copies it (and the others it wrote) into the download cache.
func (m *Mirrors) fetchDirect(ctx context.Context, path, version, kind string) (Fetched, error) {
	sub := "list"
	if kind == "zip" {
		sub = "download"
	}
	modcache := filepath.Join(m.cache.dir, "direct", "modcache")
	ep, err := module.EscapePath(path)
	if err != nil {
		return Fetched{}, err
	}
	ev, err := module.EscapeVersion(version)
	if err != nil {
		return Fetched{}, err
	}
	// The go command writes its cache files by rename: one that exists is
	// complete (an earlier run for another kind may have written it).
	file := filepath.Join(modcache, "cache", "download", filepath.FromSlash(ep), "@v", ev+"."+kind)
	if _, err := os.Stat(file); err != nil {
		_, err := m.once(ctx, "direct:"+sub+":"+path+"@"+version, func() (Fetched, error) {
			return Fetched{}, m.runGo(ctx, sub, modcache, path, version)
		})
		if err != nil {
			return Fetched{}, err
		}
	}
	if _, err := os.Stat(file); err != nil && kind == "info" {
		// Older go commands may not store .info for go list -m; download does.
		if err := m.runGo(ctx, "download", modcache, path, version); err != nil {
			return Fetched{}, err
		}
	}
	f, err := m.cache.putFile(ctx, file, path, version, kind, "direct")
	if err != nil {
		return Fetched{}, fmt.Errorf("direct: %w", err)
	}
	m.stats.bytes.Add(f.Size)
	m.progress(Event{Phase: "download", Item: path + "@" + version + " " + kind, Bytes: f.Size})
	return f, nil
}

// runGo runs `go list -m -json M@V` or `go mod download -json M@V`.
func (m *Mirrors) runGo(ctx context.Context, sub, modcache, path, version string) error {
	args := []string{"list", "-m", "-json", path + "@" + version}
	if sub == "download" {
		args = []string{"mod", "download", "-json", path + "@" + version}
	}
	_, err := m.goJSON(ctx, modcache, args, nil)
	return err
}

// goJSON runs the go command with args (which ask for -json output) in
// the direct work directory, GOPROXY=DirectProxy and GOMODCACHE=modcache,
// decodes its output into out (if not nil) and returns the go command's
// error as a *directError.
func (m *Mirrors) goJSON(ctx context.Context, modcache string, args []string, out *goModuleJSON) ([]byte, error) {
	work := filepath.Join(m.cache.dir, "direct", "work")
	if err := os.MkdirAll(work, 0o777); err != nil {
		return nil, fmt.Errorf("direct: %w", err)
	}
	if err := m.get.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.get.release()
	m.stats.direct.Add(1)

	cmd := exec.CommandContext(ctx, m.cfg.GoCmd, args...)
	cmd.Dir = work
	env := append([]string(nil), m.cfg.GoEnv...)
	env = append(env,
		"GOPROXY="+m.cfg.DirectProxy,
		"GOMODCACHE="+modcache,
		"GOWORK=off",
		"GO111MODULE=on",
	)
	if m.cfg.Insecure != "" {
		env = append(env, "GOINSECURE="+m.cfg.Insecure)
	}
	if m.cfg.Netrc != "" {
		env = append(env, "NETRC="+m.cfg.Netrc)
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	m.log.Debug("direct", "cmd", strings.Join(cmd.Args, " "))
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if out == nil {
		out = new(goModuleJSON)
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil && runErr == nil {
		return nil, fmt.Errorf("direct: go %s: parsing output: %w", args[0], err)
	}
	msg := goErrorText(out.Error)
	if msg == "" && runErr != nil {
		msg = strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = runErr.Error()
		}
	}
	if msg == "" {
		return stdout.Bytes(), nil
	}
	msg = firstLine(strings.NewReader(msg))
	return nil, &directError{msg: msg, notFound: looksNotFound(msg)}
}

// goErrorText returns the message of the Error field: a string for
// go mod download, an object {"Err": ...} for go list -m.
func goErrorText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct{ Err string }
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Err
	}
	return string(raw)
}

// looksNotFound recognises the go command's ways of saying a module version
// does not exist. The go command reports them only as text.
func looksNotFound(msg string) bool {
	for _, s := range []string{"not found", "404 Not Found", "410 Gone", "unknown revision", "no matching versions", "does not exist", "invalid version", "no such file or directory"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
