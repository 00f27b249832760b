//go:build linux

package testkit

import (
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
)

// netnsScript runs inside the new namespaces: loopback up, /sys showing
// this namespace's interfaces, then the test binary.
const netnsScript = `ip link set lo up && mount -t sysfs sysfs /sys && exec "$@"`

// reexecAirGapped re-executes the test binary in new network and mount
// namespaces and returns its exit code; ok is false when that is not
// possible here (not root, no unshare or ip, namespaces refused).
func reexecAirGapped() (code int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, false
	}
	unshare, err1 := exec.LookPath("unshare")
	_, err2 := exec.LookPath("ip")
	exe, err3 := os.Executable()
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	nsArgs := []string{"--net", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", netnsScript, "sh"}
	// Probe first, so that a refusal is not mistaken for failing tests.
	probe := exec.Command(unshare, append(nsArgs, "true")...)
	if probe.Run() != nil {
		return 0, false
	}
	cmd := exec.Command(unshare, append(append(nsArgs, exe), os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsMarker+"=1")
	// The child dies with this process (go test's timeout kill included).
	// Pdeathsig follows the creating thread, so pin this goroutine to it.
	runtime.LockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		return 0, false
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	signal.Stop(sigs)
	if ee, isExit := err.(*exec.ExitError); isExit {
		if ee.ExitCode() < 0 {
			return 1, true
		}
		return ee.ExitCode(), true
	}
	if err != nil {
		return 1, true
	}
	return 0, true
}
