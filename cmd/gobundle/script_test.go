package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gobundle/gobundle/internal/testkit"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the gobundle command available to scripts (it runs run,
// as main does) and, where possible, runs every test of this package inside
// an air gap (see testkit.Main).
func TestMain(m *testing.M) {
	if err := findGovulncheck(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testkit.Main(m, map[string]func(){"gobundle": gobundleMain}, os.Getenv)
}

// govulncheckEnv names the real govulncheck, built from this module's tool
// dependency golang.org/x/vuln/cmd/govulncheck before the air gap closes
// (the re-executed test binary and the commands inherit it); scripts run
// it as $GOVULNCHECK.
const govulncheckEnv = "GOBUNDLE_TEST_GOVULNCHECK"

func findGovulncheck() error {
	if os.Getenv(govulncheckEnv) != "" || strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe") == "gobundle" {
		return nil
	}
	// go tool -n builds the tool into the build cache and prints its path.
	cmd := exec.Command("go", "tool", "-n", "govulncheck")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the govulncheck tool dependency: %v\n%s", err, out)
	}
	return os.Setenv(govulncheckEnv, strings.TrimSpace(string(out)))
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
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		env.Setenv("GOVULNCHECK", os.Getenv(govulncheckEnv))
		return setup(env)
	}
	testscript.Run(t, p)
}
