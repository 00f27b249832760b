package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// Main runs the tests of a package whose scripts use the kit; call it from
// TestMain instead of testscript.Main. commands are the programs scripts
// run with exec (gobundle), as for testscript.Main.
//
// # Air gap
//
// On Linux, as root, with unshare(1) and ip(8) available, Main re-executes
// the test binary inside new network and mount namespaces (unshare --net
// --mount), where only the loopback interface exists, brought up, and
// /sys is remounted to show it: the fake servers, gobundle serve and the go
// commands of every script then share a loopback-only network, and the
// [airgap] condition is true. getenv reads the marker that stops the
// re-executed binary from doing it again. Elsewhere the tests run as they
// are, on loopback by configuration only, and the airgap command says "air
// gap not enforced".
func Main(m testscript.TestingM, commands map[string]func(), getenv func(string) string) {
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	if _, isCommand := commands[name]; !isCommand && getenv(netnsMarker) == "" {
		if code, ok := reexecAirGapped(); ok {
			os.Exit(code)
		}
	}
	testscript.Main(m, commands)
}

// netnsMarker is set in the environment of the re-executed test binary.
const netnsMarker = "GOBUNDLE_TESTKIT_NETNS"

// AirGapped reports whether this process sees no network interface but
// loopback, and why: it reads /sys/class/net and /proc/self/net/dev and
// sends nothing anywhere.
func AirGapped() (bool, string) {
	var ifaces []string
	if ents, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range ents {
			ifaces = append(ifaces, e.Name())
		}
	} else {
		return false, fmt.Sprintf("cannot list network interfaces: %v", err)
	}
	dev, err := os.ReadFile("/proc/self/net/dev")
	if err != nil {
		return false, fmt.Sprintf("cannot read /proc/self/net/dev: %v", err)
	}
	var devs []string
	for _, line := range strings.Split(string(dev), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok {
			devs = append(devs, strings.TrimSpace(name))
		}
	}
	if strings.Join(ifaces, ",") == "lo" && strings.Join(devs, ",") == "lo" {
		return true, "/sys/class/net and /proc/self/net/dev hold only lo"
	}
	return false, fmt.Sprintf("network interfaces %s (in /proc/self/net/dev: %s)", strings.Join(ifaces, ", "), strings.Join(devs, ", "))
}
