package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/gotoolchain"
	"github.com/gobundle/gobundle/internal/repro"
	"github.com/gobundle/gobundle/resolver"
)

// Options say what [Run] builds and how; cmd/gobundle fills them from
// create's flags and the environment.
type Options struct {
	// Inputs are the inputs as given: directories (their go.work, else
	// their go.mod), go.mod or go.work files, or module@version. With no
	// Inputs and no From, the input is ".".
	Inputs []string
	// From names files listing more inputs, one a line.
	From []string
	// GoWork is the GOWORK setting directory inputs follow.
	GoWork string
	// Settings returns the mirror chain, the checksum database and the
	// cache to use. It is asked once, after the inputs are read, so that a
	// bad input is reported before the go command is run for its settings.
	Settings func(ctx context.Context) (Settings, error)

	// Output is the bundle file to write (through a temporary file);
	// ignored with DryRun.
	Output string
	// DryRun resolves, fetches and verifies everything, and writes nothing.
	DryRun bool

	// Jobs bounds the parallel requests to the mirrors; Retries is the
	// fetch layer's retry count (-1: none, 0: its default).
	Jobs, Retries int
	// AllZips and Strict are [resolver.Config]'s.
	AllZips, Strict bool

	// Bundle holds the writer's settings: Tool, Created, Level, FrameSize,
	// RawZips, Concurrency and TempDir. The pipeline sets Progress and
	// CacheDir; with Reproduce, the old bundle's Created, Level, FrameSize
	// and RawZips win.
	Bundle bundle.WriterOptions

	// SumDBTree is a bundle or signed tree head file whose tree the
	// checksum database records are proved in ("" for the newest).
	SumDBTree string
	// Reproduce is an earlier bundle to rebuild with its settings and
	// tree, and to compare the rebuild with.
	Reproduce string
	// Base are earlier bundles the bundle is incremental on (see
	// [bundle.WriterOptions.Bases]); their checksum database trees are
	// proven consistent with its own, as SumDBSince's are.
	Base []string
	// SumDBSince are earlier bundles whose trees the bundle proves
	// consistent with its own; it stays self-contained.
	SumDBSince []string
	// CacheMax, if not negative, is the size the download cache is trimmed
	// to once the bundle is written.
	CacheMax int64

	// Toolchains are the --toolchain values (see [resolver.ToolchainConfig]):
	// Go toolchains to bundle for Platforms (at least one when Toolchains
	// is set), "auto" meaning those the inputs' go and toolchain lines make
	// a go of version Settings.GoVersion switch to.
	Toolchains []string
	Platforms  []gotoolchain.Platform

	// VulnDB bundles the Go vulnerability database, read from the module
	// golang.org/x/vulndb at VulnDBVersion ("" for the newest the mirrors
	// list).
	VulnDB        bool
	VulnDBVersion string

	// Logger gets what the resolver does; nil discards it.
	Logger *slog.Logger
	// Events gets the progress; nil discards it. Calls never overlap.
	Events func(Event)
}

// Settings are the go command's settings a create honours, and its cache.
type Settings struct {
	Proxy    string // mirror chain, GOPROXY syntax; required
	NoProxy  string // GONOPROXY
	Private  string // GOPRIVATE
	Insecure string // GOINSECURE
	SumDB    string // GOSUMDB syntax; "off" for none
	NoSumDB  string // GONOSUMDB
	Auth     string // GOAUTH
	// GOROOT is where the key of a checksum database named without one
	// is looked up (the go toolchain's list of known databases).
	GOROOT string
	// Netrc is the .netrc file with mirror credentials ("" for none).
	Netrc string
	// DirectEnv is the environment of the go command run for "direct".
	DirectEnv []string
	// CacheDir is the download cache (made if missing).
	CacheDir string
	// GoVersion is the go version of the machines that will build (create
	// --farm-go, else go env GOVERSION), for Options.Toolchains "auto".
	GoVersion string
}

// Event is progress flowing out of [Run]; only cmd/gobundle draws it.
//
// Stages: the resolver's phases ("resolve", "verify", "download",
// "bytes"; see [resolver.Event]), "compress" (bytes compressed of the
// bundle's content, from the bundle writer), "add" (module versions handed
// to the writer at the end) and "warning" (Item is a one-line warning; the
// run goes on). An event with End set says the stage's progress is over.
type Event struct {
	Stage       string
	Item        string
	Done, Total int64 // Total 0 if unknown
	Bytes       int64 // bytes fetched by this event, if any
	End         bool
}

// Result is what [Run] did.
type Result struct {
	// Output is the bundle written; "" on a dry run.
	Output string
	// Resolved is what the resolver found.
	Resolved *resolver.Result
	// SumDB is the checksum database's name, "off" when there is none.
	SumDB string
	// Bundle are the written bundle's figures (zero on a dry run).
	Bundle bundle.Stats
	// CacheTrim is what the trim of the cache removed (nil without
	// CacheMax).
	CacheTrim *resolver.TrimStats
	// Reproduce compares the rebuild with Options.Reproduce (nil without).
	Reproduce *repro.Report
	// Toolchains are the Go toolchains bundled (Options.Toolchains).
	Toolchains []Toolchain
	// Choices are the module@latest inputs, resolved at create time.
	Choices []resolver.Choice
	// VulnDB is the vulnerability database bundled (nil without).
	VulnDB *VulnDB
	// Elapsed is the time from the start of Run until the bundle was
	// written (or, on a dry run, verified), before the trim and the
	// comparison.
	Elapsed time.Duration
}

// UsageError marks an error as bad usage: a flag's value or a combination
// of flags, which cmd/gobundle reports with exit code 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }
