package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/gobundle/gobundle/serve"
)

// ServeCmd is `gobundle serve`.
type ServeCmd struct {
	Listen       string        `default:"127.0.0.1:8080" help:"Address to listen on, host:port (port 0 picks a free one; :8080 listens on every interface)."`
	TLSCert      string        `name:"tls-cert" type:"existingfile" help:"Serve HTTPS with this PEM certificate (needs --tls-key)."`
	TLSKey       string        `name:"tls-key" type:"existingfile" help:"PEM private key of --tls-cert."`
	LogFormat    string        `name:"log-format" enum:"text,json" default:"text" help:"Format of the log on standard error: text or json."`
	Memory       byteSize      `name:"memory" default:"512MiB" placeholder:"SIZE" help:"Decompressed bundle data kept in memory for serving zips (default 512MiB), all loaded bundles together, whatever their number: one cache they share, least recently used frame out. Below a project's content size, zips are decompressed again and again (on hugo's 1.35 GB: 128 MiB doubles the CPU per download). The loaded bundles' indexes and checksum database data count against it too (about 12 MiB a real project's bundle; the frames get the rest, at least 64 MiB). Memory is held to about this plus 256 MiB unless GOMEMLIMIT is set. Example: --memory 2GiB."`
	FrameCache   int64         `name:"frame-cache" default:"0" placeholder:"MIB" help:"Instead of --memory: MiB of frame cache for each bundle (memory then grows with the number of bundles: about this plus 256 MiB each)."`
	SumDB        []string      `name:"sumdb" placeholder:"NAME+KEY" help:"Trust this checksum database key (GOSUMDB form; repeatable). The go toolchain's built-in key is trusted for its default database; a bundle's own key never is, so data of other databases is served only with this flag."`
	WriteTimeout time.Duration `name:"write-timeout" default:"1m" help:"Cut off a client whose connection has not taken a write for this long (a stalled client holds nothing longer)."`
	MaxConns     int           `name:"max-conns" default:"1024" help:"Connections served at once; more wait to be accepted."`
	ZipCache     string        `name:"zip-cache" placeholder:"DIR|off" help:"Directory where serve makes and keeps the deflated zips it sends (each once, when first asked for), so clients download no more than the mirror sent; 'off' sends zips with stored entries (about 4x larger) and keeps nothing. Several servers may share it. Default: <user cache dir>/gobundle/serve-zips."`
	ZipCacheMax  byteSize      `name:"zip-cache-max" default:"8GiB" placeholder:"SIZE" help:"Bound of --zip-cache; the least recently sent zips go first (made again when asked for)."`
	Poll         time.Duration `default:"10s" help:"How often to look for new or changed bundles in the served directories (0 disables; SIGHUP always reloads)."`
	trustFlags
	Misses  string   `name:"misses" placeholder:"FILE" type:"path" help:"Keep the misses (module versions, lists, @latest and checksum database records asked for that no bundle holds; GET /-/misses) in FILE across restarts: read at start, appended to (several servers may share it). Example: --misses /var/lib/gobundle/misses.log, then on the connected side gobundle create --from misses.txt with what GET /-/misses printed."`
	Bundles []string `arg:"" name:"bundle" type:"path" help:"Bundle files, or directories whose *.gobundle files are served."`
}

// Run serves until SIGINT or SIGTERM, reloading on SIGHUP.
func (c *ServeCmd) Run(e *env) error {
	if c.FrameCache < 0 {
		return usageError{errors.New("serve: --frame-cache must be at least 1 (MiB)")}
	}
	if c.Memory < 1<<20 {
		return usageError{errors.New("serve: --memory must be at least 1MiB")}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return usageError{fmt.Errorf("serve: --listen %q: want host:port, such as 127.0.0.1:8080 (:8080 listens on every interface)", c.Listen)}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return usageError{errors.New("serve: --tls-cert and --tls-key go together")}
	}
	log := serveLogger(e, c.LogFormat)

	c.tuneRuntime(e)

	ctx := e.ctx
	zipCache, err := c.zipCacheDir(log)
	if err != nil {
		return err
	}
	keys, given, err := serveSumDBKeys(ctx, e, c.SumDB)
	if err != nil {
		return err
	}
	signerKeys, err := c.verifiers("serve")
	if err != nil {
		return err
	}
	// Listen before loading bundles: a port in use is known at once.
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s, err := serve.New(ctx, serve.Options{
		SumDBKeys:         keys,
		SignerKeys:        signerKeys,
		RequireAllSigners: c.RequireAll,
		Bundles:           c.Bundles,
		Logger:            log,
		AccessLog:         !e.quiet,
		PollInterval:      c.Poll,
		WriteTimeout:      c.WriteTimeout,
		MaxConns:          c.MaxConns,
		FrameCacheBytes:   c.FrameCache << 20,
		MemoryBytes:       c.memoryBudget(),
		TLSCertFile:       c.TLSCert,
		TLSKeyFile:        c.TLSKey,
		MissesFile:        c.Misses,
		ZipCacheDir:       zipCache,
		ZipCacheBytes:     int64(c.ZipCacheMax),
	})
	if err != nil {
		ln.Close()
		return err
	}
	// The frame cache is most of a large bundle's memory; with GOGC=200 the
	// heap could grow to three times it. A soft limit, set from the bundles
	// opened at start, makes the collector work harder near cache plus
	// headroom instead (hugo: 1.6 GB -> 0.8 GB peak RSS at the same CPU).
	if e.getenv("GOMEMLIMIT") == "" {
		st := s.Stats()
		// A budget too small for the bundles' indexes (serve warned):
		// room above what they hold, or the collector runs without end.
		debug.SetMemoryLimit(max(c.softLimit(len(st.Bundles)), st.MemoryHeld+256<<20-softLimitSlack))
	}
	// Catch SIGHUP before announcing readiness, so a reload asked for
	// right after the GOPROXY line never kills the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // never delivered on Windows
	defer signal.Stop(hup)
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	url := scheme + "://" + clientAddr(ln.Addr())
	printServeBanner(e, s.Stats(), url, given)

	reloadCtx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	go func() {
		for {
			select {
			case <-reloadCtx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading bundles")
				s.Reload(reloadCtx) // logs its own failure and keeps serving
			}
		}
	}()
	err = s.Run(ctx, ln)
	log.Info("stopped")
	return err
}

// serveLogger returns serve's log on standard error, in format (text or
// json); --quiet leaves warnings and errors.
func serveLogger(e *env, format string) *slog.Logger {
	level := slog.LevelInfo
	if e.quiet {
		level = slog.LevelWarn
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(e.stderr, hopts)
	if format == "json" {
		h = slog.NewJSONHandler(e.stderr, hopts)
	}
	return slog.New(h)
}

// clientAddr is the address clients use for a listener: its own, or this
// host's name when it listens on every interface.
func clientAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(ta.Port))
}

// tuneRuntime sets the collector's pace and, with --memory, the soft
// memory limit, unless the user set GOGC or GOMEMLIMIT.
func (c *ServeCmd) tuneRuntime(e *env) {
	// A proxy allocates a little per request over a small live heap: with
	// the default GOGC it collects thousands of times a second under load.
	// Collect less often (400 measured 130 MiB RSS on 10,000 module
	// versions under wrk; 200 stays near 80 MiB).
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	// Loading twenty bundles' indexes and checksum database data makes
	// garbage: under the soft limit from the start, so that the peak stays
	// within --memory + 256 MiB then too (with --frame-cache the limit
	// depends on the bundles found: Run sets it once they are loaded).
	if e.getenv("GOMEMLIMIT") == "" && c.FrameCache == 0 {
		debug.SetMemoryLimit(c.softLimit(0))
	}
}

// memoryBudget is serve.Options.MemoryBytes: --memory, unless --frame-cache
// sizes each bundle's cache instead.
func (c *ServeCmd) memoryBudget() int64 {
	if c.FrameCache > 0 {
		return 0
	}
	return int64(c.Memory)
}

// softLimit is the Go runtime's memory limit for n bundles: --memory
// (indexes, checksum database data and frames: serve.Options.MemoryBytes)
// plus 256 MiB of headroom less softLimitSlack, the resident memory the
// runtime does not count (the program's code and data), so that RSS
// stays within --memory + 256 MiB; per bundle with --frame-cache, as the
// caches are.
func (c *ServeCmd) softLimit(n int) int64 {
	if c.FrameCache > 0 {
		return int64(max(1, n)) * (c.FrameCache<<20 + 256<<20)
	}
	return int64(c.Memory) + 256<<20 - softLimitSlack
}

// softLimitSlack is what softLimit leaves below --memory + 256 MiB: the
// program's resident code and data, and the collector's overshoot when
// large frames are allocated faster than a starved collector frees them
// (with 32 MiB, twenty real bundles under eight clients on a loaded
// two-core machine peaked 4 MiB over the bound).
const softLimitSlack = 64 << 20

// zipCacheDir returns the zip cache directory to use, "" for none. The
// default one is skipped, with a warning, when it cannot be made; one the
// user named must work.
func (c *ServeCmd) zipCacheDir(log *slog.Logger) (string, error) {
	switch c.ZipCache {
	case "off":
		return "", nil
	case "":
	default:
		if err := os.MkdirAll(c.ZipCache, 0o777); err != nil {
			return "", fmt.Errorf("serve: --zip-cache: %w", err)
		}
		return c.ZipCache, nil
	}
	dir, err := os.UserCacheDir()
	if err == nil {
		dir = filepath.Join(dir, "gobundle", "serve-zips")
		err = os.MkdirAll(dir, 0o777)
	}
	if err != nil {
		log.Warn("no zip cache: zips are sent with stored entries, about 4x what the mirror sent; set --zip-cache DIR", "err", err)
		return "", nil
	}
	return dir, nil
}

// printServeBanner announces the server: what it serves, the GOPROXY line
// scripts wait for, and notes on the checksum and vulnerability databases
// and misses.
func printServeBanner(e *env, st serve.Stats, url string, given map[string]string) {
	fmt.Fprintf(e.stdout, "gobundle serve: %s, %s at %s\n", plural(len(st.Bundles), "bundle", "bundles"), plural(st.Versions, "module version", "module versions"), url)
	fmt.Fprintf(e.stdout, "GOPROXY=%s\n", url)
	printSumDBNote(e, st, given)
	if st.VulnDB != nil {
		fmt.Fprintf(e.stdout, "# vulnerability database (%s, %d entries, modified %s): govulncheck -db %s/vulndb ./...\n",
			st.VulnDB.Module, st.VulnDB.Entries, st.VulnDB.Modified.Format(time.RFC3339), url)
	}
	fmt.Fprintf(e.stdout, "# misses: %s/-/misses lists what clients asked for that no bundle holds, in create --from syntax\n", url)
}
