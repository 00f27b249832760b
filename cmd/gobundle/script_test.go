package main

import (
	"os"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the gobundle command available to scripts (it runs run,
// as main does) and, where possible, runs every test of this package inside
// an air gap (see testkit.Main).
func TestMain(m *testing.M) {
	testkit.Main(m, map[string]func(){"gobundle": gobundleMain}, os.Getenv)
}

func gobundleMain() {
	ctx, stop := signalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// TestScript runs testdata/script/*.txtar with the kit's commands; see
// internal/testkit's package doc to add one.
func TestScript(t *testing.T) {
	p := testkit.Params(t, "testdata/script")
	for name, cmd := range reproCommands() {
		p.Cmds[name] = cmd
	}
	for name, cmd := range signCommands() {
		p.Cmds[name] = cmd
	}
	testscript.Run(t, p)
}
