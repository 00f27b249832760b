// Command gobundle carries Go module dependencies across an air gap: it
// builds one verified, compressed bundle file on the connected side and
// serves it as a read-only GOPROXY on the disconnected side.
//
// The command is thin: it parses flags with kong, reads the environment,
// calls one package function per command and maps errors to exit codes
// (0 success, 1 failure, 2 bad usage) in one place.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// version is the tool version recorded in bundles; set with -ldflags at release.
var version = "devel"

// CLI is the command tree.
type CLI struct {
	Quiet   bool             `help:"Silence progress output (summaries and errors are still printed)." short:"q"`
	Version kong.VersionFlag `help:"Print the version and exit."`

	Create  CreateCmd  `cmd:"" help:"Resolve the full module graph of projects through the mirror chain, verify it against go.sum and the checksum database, and write one bundle.\n\nExample: gobundle create ./myproject -o deps.gobundle --proxy https://proxy.example.com"`
	Pack    PackCmd    `cmd:"" help:"Pack a GOPROXY file tree (such as $GOMODCACHE/cache/download) into a bundle; an unpacked bundle's checksum database files (sumdb/NAME/) come along once verified.\n\nExample: gobundle pack $(go env GOMODCACHE)/cache/download -o deps.gobundle\n\nExample: gobundle pack --sumdb NAME+KEY ./proxy -o again.gobundle"`
	Inspect InspectCmd `cmd:"" help:"Show a bundle's metadata, module versions, sizes and compression figures.\n\nExample: gobundle inspect deps.gobundle --json"`
	Verify  VerifyCmd  `cmd:"" help:"Re-check every checksum in a bundle; exit 0 only if all hold.\n\nExample: gobundle verify deps.gobundle"`
	Unpack  UnpackCmd  `cmd:"" help:"Write a bundle out as a GOPROXY file tree usable as GOPROXY=file://DIR.\n\nExample: gobundle unpack deps.gobundle ./proxy"`
	Serve   ServeCmd   `cmd:"" help:"Serve bundles (files, or directories of *.gobundle files) as one read-only GOPROXY.\n\nExample: gobundle serve --listen :8080 /srv/bundles  # then on clients: GOPROXY=http://HOST:8080"`
	Merge   MergeCmd   `cmd:"" help:"Write one self-contained bundle of the union of bundles (full ones, and incremental ones with their bases): to rebase a chain of incremental bundles, or to combine bundles of several teams. A module version two of them hold with different content is an error naming both. The same inputs give the same bundle digest.\n\nExample: gobundle merge week1.gobundle week2.gobundle week3.gobundle -o all.gobundle"`
	Diff    DiffCmd    `cmd:"" help:"Show what NEW adds to, removes from and changes in OLD: module versions, toolchains and checksum database tree sizes, with bytes (an incremental NEW is taken with its bases). Exit 0 whatever differs.\n\nExample: gobundle diff deps-1.gobundle deps-2.gobundle --json"`
	Keygen  KeygenCmd  `cmd:"" help:"Make a signing key pair: NAME.key (signer, mode 0600, never overwritten) and NAME.pub (verifier), in the key format of Go's checksum database.\n\nExample: gobundle keygen ci.example.com"`
	Sign    SignCmd    `cmd:"" help:"Add a signature to a bundle (several are allowed: the builder's, the security officer's); the index digest stays the same.\n\nExample: gobundle sign deps.gobundle --key officer.key"`
	Cache   CacheCmd   `cmd:"" help:"Show (du) or delete (clean) create's download and frame cache.\n\nExample: gobundle cache du"`
	Versio  VersionCmd `cmd:"" name:"version" help:"Print gobundle's version (module version and VCS revision of the build), as bundles record it.\n\nExample: gobundle version"`
}

// env is what commands may know of the process environment; cmd is the only
// place that reads it.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	quiet  bool
	isTTY  bool
}

// usageError marks an error as bad usage (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// signalContext returns a context done at the first SIGINT or SIGTERM.
// Only the first is caught: a second one ends the process at once, as it
// does for the go command, should the cleanup after the first ever hang.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// exitPanic carries kong's requested exit code out of Parse.
type exitPanic int

// run executes one gobundle command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	var cli CLI
	defer func() {
		if r := recover(); r != nil {
			if c, ok := r.(exitPanic); ok {
				code = int(c)
				if len(args) == 0 {
					code = 2 // the help of a bare gobundle
				}
				return
			}
			panic(r)
		}
	}()
	parser, err := kong.New(&cli,
		kong.Name("gobundle"),
		kong.Description("gobundle carries Go module dependencies across an air gap.\n\n"+
			"Connected side: gobundle create (or pack) writes ONE verified, compressed bundle file.\n"+
			"Disconnected side: gobundle verify checks it, gobundle serve exposes it as a GOPROXY,\n"+
			"checksum database included, so clients build with nothing switched off.\n\n"+
			"Example:\n"+
			"  gobundle create ./myproject -o deps.gobundle    # outside, with your mirrors\n"+
			"  gobundle verify deps.gobundle                   # inside, after the trip\n"+
			"  gobundle serve --listen :8080 deps.gobundle     # inside\n"+
			"  GOPROXY=http://bundlehost:8080 go build ./...   # on every client"),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitPanic(c)) }),
		kong.UsageOnError(),
		kong.Vars{"version": "gobundle " + toolVersion()},
	)
	if err != nil {
		fmt.Fprintf(stderr, "gobundle: %v\n", err)
		return 2
	}
	if len(args) == 0 {
		// Bare gobundle: the whole help, not kong's cut list of commands;
		// still bad usage.
		parser.Parse([]string{"--help"})
		return 2
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "gobundle: %v\n", err)
		return 2
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv, quiet: cli.Quiet, isTTY: isTerminal(stderr)}
	if err := kctx.Run(e); err != nil {
		fmt.Fprintf(stderr, "gobundle: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
