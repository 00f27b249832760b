package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/internal/fsutil"
	"github.com/gobundle/gobundle/internal/repro"
	"github.com/gobundle/gobundle/internal/sumdbstore"
	"github.com/gobundle/gobundle/internal/vulndb"
)

// PackCmd packs a GOPROXY file tree.
type PackCmd struct {
	Dir    string `arg:"" help:"GOPROXY file tree to pack, such as $(go env GOMODCACHE)/cache/download or an unpacked bundle." type:"existingdir"`
	Output string `short:"o" required:"" help:"Bundle file to write." placeholder:"FILE"`
	compressWorkersFlag
	CompressCache string `name:"compress-cache" placeholder:"DIR" type:"path" help:"Keep compressed frames and zip analyses in DIR, so that a repeated pack of mostly the same content compresses only what is new. Default: none (every frame is compressed). Example: --compress-cache ~/.cache/gobundle/bundle, the part of create's --cache that holds the same."`
	// OldJobs and OldCache are pack's former spellings of
	// --compress-workers and --compress-cache: create's --jobs and --cache
	// mean something else, so they only get an error naming the new flag.
	OldJobs  *int     `name:"jobs" hidden:""`
	OldCache *string  `name:"cache" hidden:""`
	SumDB    string   `name:"sumdb" placeholder:"NAME+KEY" help:"Checksum database key to check the tree's sumdb/NAME/latest signed tree head with, GOSUMDB form (default: the go toolchain's built-in keys)."`
	Base     []string `name:"base" placeholder:"FILE" type:"existingfile" help:"Write an incremental bundle holding only what the bundle FILE lacks (repeatable; an incremental base needs its own bases given too): serve it beside FILE. Example: --base week1.gobundle."`
	signFlag
	// FrameSize trades compression ratio for random-read cost; hidden, for
	// measurements.
	FrameSize int `hidden:"" help:"Content frame size in bytes." default:"0"`
}

func (c *PackCmd) Run(e *env) error {
	limitMemory(e)
	if c.OldJobs != nil {
		return usageError{errors.New("pack: --jobs is now --compress-workers (--jobs means mirror requests, in create)")}
	}
	if c.OldCache != nil {
		return usageError{errors.New("pack: --cache is now --compress-cache (--cache is create's download cache)")}
	}
	if err := c.compressWorkersFlag.check("pack"); err != nil {
		return err
	}
	keys, err := trustedSumDBKeys(e.ctx, e, c.SumDB)
	if err != nil {
		return err
	}
	signers, err := c.signers(e)
	if err != nil {
		return err
	}
	sd, err := readTreeSumDB(e.ctx, e, c.Dir, keys)
	if err != nil {
		return err
	}
	created, err := e.created()
	if err != nil {
		return err
	}
	bases, err := openBases(e, c.Base)
	if err != nil {
		return err
	}
	defer closeAll(bases)
	w, err := bundle.NewWriter(bundle.WriterOptions{
		Tool:    "gobundle " + toolVersion(),
		Created: created,
		Bases:   bases,
		// Not the directory's path: nothing in a bundle depends on the host.
		Inputs:      []string{"GOPROXY file tree"},
		TempDir:     e.getenv("GOBUNDLE_TMPDIR"),
		Concurrency: c.CompressWorkers,
		FrameSize:   c.FrameSize,
		CacheDir:    c.CompressCache,
		Progress:    bundleProgress(e.newProgress("compressing", true)),
		Signers:     signers,
	})
	if err != nil {
		return err
	}
	defer w.Close()
	start := time.Now()
	read := e.newProgress("reading", false)
	err = bundle.Pack(e.ctx, w, c.Dir, bundleProgress(read))
	read.Finish()
	if err != nil {
		return err
	}
	if err := addTreeSumDB(e.ctx, w, sd); err != nil {
		return err
	}
	if err := addTreeVulnDB(e.ctx, w, c.Dir); err != nil {
		return err
	}
	st, err := w.WriteFile(e.ctx, c.Output)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "packed %d module versions (%d zips) into %s: %s in %s\n",
		st.Modules, st.Zips, c.Output, humanBytes(st.FileSize), time.Since(start).Round(time.Millisecond))
	return nil
}

// compressWorkersFlag is the --compress-workers flag of create and pack.
type compressWorkersFlag struct {
	CompressWorkers int `name:"compress-workers" default:"0" placeholder:"N" help:"zstd compression workers, each with its own encoder and frame buffers (0: the number of CPUs). Example: --compress-workers 2 on a shared CI host."`
}

func (f compressWorkersFlag) check(cmd string) error {
	if f.CompressWorkers < 0 {
		return usageError{fmt.Errorf("%s: --compress-workers must be 0 (number of CPUs) or more", cmd)}
	}
	return nil
}

// InspectCmd shows what a bundle holds.
type InspectCmd struct {
	File  string `arg:"" help:"Bundle file." type:"path"`
	JSON  bool   `help:"Print machine-readable JSON."`
	Files bool   `help:"List every module version with its files (default when --json)."`
	SBOM  bool   `name:"sbom" help:"Print a CycloneDX JSON SBOM of the bundle: every module version and toolchain with its purl and hashes, the inputs' main modules, the dependency edges the bundled go.mod files state, and the bundle (digest, signers) as the subject."`
	baseFlag
}

// inspectOutput is the --json form of inspect.
type inspectOutput struct {
	File string `json:"file"`
	// Digest is the index digest (IndexDigest without its prefix), kept
	// for scripts that read it.
	Digest string `json:"digest"`
	// IndexDigest is the sha256 of the bundle's stored index, which holds
	// the sha256 of every frame: the bundle's identity, but not the file's
	// own sha256 (FileSHA256), which sha256sum prints.
	IndexDigest string `json:"index_digest"`
	FileSHA256  string `json:"file_sha256"`
	// ContentDigest depends only on what serve answers (docs/FORMAT.md).
	ContentDigest string       `json:"content_digest"`
	Format        int          `json:"format"`
	Meta          bundle.Meta  `json:"meta"`
	Stats         bundle.Stats `json:"stats"`
	// SizeSplit divides the file size between module files, extras (by
	// kind: sumdb is the checksum database), the index and the framing.
	SizeSplit bundle.SizeSplit    `json:"size_split"`
	Modules   []bundle.Module     `json:"modules"`
	Extras    []bundle.Extra      `json:"extras"`
	SumDB     *sumdbstore.Summary `json:"sumdb,omitempty"`
	// Bases are the bundle digests an incremental bundle needs.
	Bases []string `json:"bases,omitempty"`
	// Toolchains are the Go toolchains among Modules.
	Toolchains []inspectToolchain `json:"toolchains"`
	// Signatures are listed unverified: verify --key checks them.
	Signatures  []bundle.Signature `json:"signatures"`
	VulnDB      *vulndb.Summary    `json:"vulndb,omitempty"`
	VulnDBError string             `json:"vulndb_error,omitempty"`
}

func (c *InspectCmd) Run(e *env) error {
	if c.SBOM && (c.JSON || c.Files) {
		return usageError{errors.New("inspect: --sbom prints the SBOM alone: drop --json and --files")}
	}
	// An incremental bundle's own entries show without its bases; its
	// checksum database data and content digest read them.
	ch, err := openChain(e.ctx, c.File, c.Base, len(c.Base) > 0)
	if err != nil {
		return err
	}
	defer ch.Close()
	r := ch.top
	fileSum, err := fsutil.FileSHA256(c.File)
	if err != nil {
		return err
	}
	if c.SBOM {
		return printSBOM(e, r, fileSum)
	}
	if c.JSON {
		return c.printJSON(e, r, fileSum)
	}
	st := r.Stats()
	m := r.Meta()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "bundle\t%s\n", c.File)
	fmt.Fprintf(tw, "index digest\tsha256:%s (the bundle's identity; verify checks every byte against it)\n", r.Digest())
	fmt.Fprintf(tw, "file sha256\t%s (what sha256sum prints)\n", fileSum)
	fmt.Fprintf(tw, "content digest\t%s\n", contentDigest(e, r))
	fmt.Fprintf(tw, "format\tv%d\n", bundle.FormatVersion)
	fmt.Fprintf(tw, "tool\t%s\n", m.Tool)
	fmt.Fprintf(tw, "created\t%s\n", m.Created.Format(time.RFC3339))
	fmt.Fprintf(tw, "inputs\t%s\n", strings.Join(m.Inputs, ", "))
	if len(m.Mirrors) > 0 {
		fmt.Fprintf(tw, "mirrors\t%s\n", strings.Join(m.Mirrors, ", "))
	}
	for _, p := range m.Properties {
		fmt.Fprintf(tw, "%s\t%s\n", p.Key, p.Value)
	}
	tcs, others := bundledToolchains(r.Modules())
	fmt.Fprintf(tw, "module versions\t%d (%d with zips)", st.Modules, st.Zips)
	if len(tcs) > 0 {
		fmt.Fprintf(tw, ": %d modules, %d toolchains", others, len(tcs))
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "signatures\t%s\n", signatureLine(r.Signatures()))
	fmt.Fprintf(tw, "module versions\t%d (%d with zips)\n", st.Modules, st.Zips)
	fmt.Fprintf(tw, "extras\t%d\n", st.Extras)
	fmt.Fprintf(tw, "file size\t%s\n", humanBytes(st.FileSize))
	fmt.Fprintf(tw, "content\t%s before dedup, %s unique (%s), %s compressed (%s of unique)\n",
		humanBytes(st.LogicalBytes), humanBytes(st.BlobBytes), ratio(st.BlobBytes, st.LogicalBytes),
		humanBytes(st.CompressedBytes), ratio(st.CompressedBytes, st.BlobBytes))
	fmt.Fprintf(tw, "zips as serve sends them\t%s\n", servedZips(st))
	fmt.Fprintf(tw, "zips as the mirror sent them\t%s\n", mirrorZips(st))
	fmt.Fprintf(tw, "storage\t%d blobs in %d frames, index %s\n", st.Blobs, st.Frames, humanBytes(st.IndexSize))
	fmt.Fprintf(tw, "size split\t%s\n", sizeSplitLine(r.SizeSplit()))
	if r.Incremental() {
		var ds []string
		for _, d := range r.Bases() {
			ds = append(ds, "sha256:"+d.String())
		}
		fmt.Fprintf(tw, "incremental\tholds only what its bases lack; needs base bundles %s\n", strings.Join(ds, ", "))
		fmt.Fprintf(tw, "from the bases\t%d blobs (%s) referred to, not stored\n", st.BaseBlobs, humanBytes(st.BaseBlobBytes))
	}
	tw.Flush()
	printToolchains(e.stdout, tcs)
	if sd := inspectSumDB(e.ctx, r); sd != nil {
		if sd.Error != "" {
			fmt.Fprintf(tw, "checksum database\t%s: %s\n", sd.Name, sd.Error)
		} else {
			fmt.Fprintf(tw, "checksum database\t%s, tree %d: %d records (%d proven), %d tiles (%s), %s in all\n",
				sd.Name, sd.Tree, sd.Records, sd.Proven, sd.Tiles, humanBytes(sd.TileBytes), humanBytes(sd.Bytes))
			if len(sd.OlderTrees) > 0 {
				fmt.Fprintf(tw, "older trees proven\t%v\n", sd.OlderTrees)
			}
		}
	}
	if vdb, vdbErr := inspectVulnDB(e.ctx, r); vdb != nil || vdbErr != nil {
		fmt.Fprintf(tw, "vulnerability database\t%s\n", vulnDBLine(vdb, vdbErr))
	}
	tw.Flush()
	if c.Files {
		fmt.Fprintln(e.stdout)
		tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MODULE\tVERSION\tINFO\tMOD\tZIP\tFILES\tORIGIN")
		for _, m := range r.Modules() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.Path, m.Version,
				fileSize(m.Info), fileSize(m.Mod), fileSize(m.Zip), m.ZipFiles, origins(m))
		}
		for _, x := range r.Extras() {
			fmt.Fprintf(tw, "%s\t%s\t\t\t%s\t\t%s\n", x.Kind, x.Name, humanBytes(x.Size), x.Origin)
		}
		tw.Flush()
	}
	return nil
}

// printJSON prints inspect --json of r, whose file has sha256 fileSum.
func (c *InspectCmd) printJSON(e *env, r *bundle.Reader, fileSum string) error {
	out := inspectOutput{File: c.File, Digest: r.Digest().String(), IndexDigest: "sha256:" + r.Digest().String(), FileSHA256: fileSum, ContentDigest: contentDigest(e, r), Format: bundle.FormatVersion,
		Meta: r.Meta(), Stats: r.Stats(), SizeSplit: r.SizeSplit(), Modules: r.Modules(), Extras: r.Extras(), SumDB: inspectSumDB(e.ctx, r), Signatures: r.Signatures()}
	if out.Signatures == nil {
		out.Signatures = []bundle.Signature{}
	}
	for _, d := range r.Bases() {
		out.Bases = append(out.Bases, "sha256:"+d.String())
	}
	out.Toolchains, _ = bundledToolchains(out.Modules)
	var err error
	if out.VulnDB, err = inspectVulnDB(e.ctx, r); err != nil {
		out.VulnDBError = err.Error()
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// servedZips describes the zips as serve and unpack hand them out.
func servedZips(st bundle.Stats) string {
	if st.Zips == 0 {
		return "none"
	}
	var form string
	switch stored := st.Zips - st.ZipsDeflated - st.ZipsRaw; {
	case st.ZipsDeflated == st.Zips:
		form = "deflated"
	case st.ZipsRaw == st.Zips:
		form = "as the mirror sent them"
	case stored == st.Zips:
		form = "stored, not deflated (a bundle written without deflated zips)"
	default:
		form = fmt.Sprintf("%d deflated, %d as the mirror sent them, %d stored", st.ZipsDeflated, st.ZipsRaw, stored)
	}
	return fmt.Sprintf("%s, %s (%s stored; the bundle is %s of what is served)", humanBytes(st.ZipBytes), form, humanBytes(st.ZipStoredBytes), ratio(st.FileSize, st.ZipBytes))
}

// mirrorZips compares what serve sends with what the mirror sent.
func mirrorZips(st bundle.Stats) string {
	switch {
	case st.Zips == 0:
		return "none"
	case st.ZipsMirrorKnown == 0:
		return "not recorded (a bundle written before the mirror's zip sizes were)"
	case st.ZipsMirrorKnown < st.Zips:
		return fmt.Sprintf("%s for %d of %d zips", humanBytes(st.ZipMirrorBytes), st.ZipsMirrorKnown, st.Zips)
	}
	return fmt.Sprintf("%s (served zips are %s of that)", humanBytes(st.ZipMirrorBytes), ratio(st.ZipBytes, st.ZipMirrorBytes))
}

func fileSize(f *bundle.FileInfo) string {
	if f == nil {
		return "-"
	}
	return humanBytes(f.Size)
}

func origins(m bundle.Module) string {
	seen := map[string]bool{}
	var out []string
	for _, f := range []*bundle.FileInfo{m.Info, m.Mod, m.Zip} {
		if f != nil && f.Origin != "" && !seen[f.Origin] {
			seen[f.Origin] = true
			out = append(out, f.Origin)
		}
	}
	return strings.Join(out, ",")
}

// VerifyCmd re-checks a bundle.
type VerifyCmd struct {
	File  string `arg:"" help:"Bundle file." type:"path"`
	JSON  bool   `name:"json" help:"Print the result as JSON on standard output, bad entries included (the exit code still says whether all hold)."`
	SumDB string `name:"sumdb" placeholder:"NAME+KEY" help:"Checksum database key to check the bundle's signed tree head with, GOSUMDB form (default: the go toolchain's built-in keys)."`
	baseFlag
	trustFlags
}

func (c *VerifyCmd) Run(e *env) error {
	// Flags first: a bad key is known before the bundle is read.
	keys, err := trustedSumDBKeys(e.ctx, e, c.SumDB)
	if err != nil {
		return err
	}
	trusted, err := c.verifiers("verify")
	if err != nil {
		return err
	}
	ch, err := openChain(e.ctx, c.File, c.Base, len(c.Base) > 0)
	if err != nil {
		return err
	}
	defer ch.Close()
	r := ch.top
	// Signatures first: an untrusted bundle is refused before its content
	// is read. They cover the index, which holds the sha256 of every frame
	// (and an incremental bundle's bases' digests).
	signed, err := checkTrusted(r, trusted, c.RequireAll)
	if err != nil {
		return err
	}
	p := e.newProgress("verifying", false)
	problems := r.Verify(e.ctx, bundleProgress(p))
	for _, b := range ch.bases {
		for _, bp := range b.Verify(e.ctx, bundleProgress(p)) {
			problems = append(problems, bundle.Problem{Entry: "base " + b.Name() + ": " + bp.Entry, Err: bp.Err})
		}
	}
	p.Finish()
	var sdProblems []bundle.Problem
	sdSummary := "checksum database data (if any) read content of the bases: verify with --base"
	if r.Linked() {
		sdProblems, sdSummary = verifySumDB(e.ctx, ch.all(), keys)
	}
	problems = append(problems, sdProblems...)
	if c.JSON {
		return c.printJSON(e, r, problems, sdSummary, signed)
	}
	for _, p := range problems {
		fmt.Fprintf(e.stderr, "%s: %s\n", c.File, p.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", c.File, plural(len(problems), "bad entry", "bad entries"))
	}
	st := r.Stats()
	fmt.Fprintf(e.stdout, "%s: ok: %d module versions, %d blobs, index digest sha256:%s, content digest %s\n", c.File, st.Modules, st.Blobs, r.Digest(), contentDigest(e, r))
	printNeeds(e, c.File, ch)
	if sdSummary != "" {
		fmt.Fprintf(e.stdout, "%s: %s\n", c.File, sdSummary)
	}
	if len(signed) > 0 {
		fmt.Fprintf(e.stdout, "%s: signed by trusted %s\n", c.File, signerList(signed))
	}
	return nil
}

// printNeeds says which bases an incremental bundle needs, and what of it
// could only be checked with them.
func printNeeds(e *env, file string, ch *chain) {
	r := ch.top
	if !r.Incremental() {
		return
	}
	var ds []string
	for _, d := range r.Bases() {
		ds = append(ds, "sha256:"+d.String())
	}
	fmt.Fprintf(e.stdout, "%s: incremental: needs base bundles %s\n", file, strings.Join(ds, ", "))
	if r.Linked() {
		fmt.Fprintf(e.stdout, "%s: checked with its bases, as served (%s)\n", file, plural(len(ch.bases), "base bundle", "base bundles"))
		return
	}
	if n := r.NeedBases(); len(n) > 0 {
		fmt.Fprintf(e.stdout, "%s: %s read content of the bases and were not checked: verify with --base\n", file, plural(len(n), "module version", "module versions"))
	}
}

// verifyOutput is the --json form of verify.
type verifyOutput struct {
	File           string   `json:"file"`
	OK             bool     `json:"ok"`
	Problems       []string `json:"problems"`
	ModuleVersions int      `json:"module_versions"`
	Blobs          int      `json:"blobs"`
	IndexDigest    string   `json:"index_digest"`
	ContentDigest  string   `json:"content_digest"`
	SumDB          string   `json:"sumdb,omitempty"`
	// TrustedSigners are the signatures by --key keys that verified.
	TrustedSigners []bundle.Signature `json:"trusted_signers,omitempty"`
}

func (c *VerifyCmd) printJSON(e *env, r *bundle.Reader, problems []bundle.Problem, sumdb string, signed []bundle.Signature) error {
	st := r.Stats()
	out := verifyOutput{File: c.File, OK: len(problems) == 0, Problems: []string{},
		ModuleVersions: st.Modules, Blobs: st.Blobs, IndexDigest: "sha256:" + r.Digest().String(),
		ContentDigest: contentDigest(e, r), SumDB: sumdb, TrustedSigners: signed}
	for _, p := range problems {
		out.Problems = append(out.Problems, p.Error())
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", c.File, plural(len(problems), "bad entry", "bad entries"))
	}
	return nil
}

// contentDigest returns "sha256:<hex>", the bundle's content digest, or
// why it can't be computed.
func contentDigest(e *env, r *bundle.Reader) string {
	if !r.Linked() {
		return "unavailable: an incremental bundle's served files read its bases: pass --base"
	}
	d, err := repro.ContentDigest(e.ctx, r)
	if err != nil {
		return "unavailable: " + err.Error()
	}
	return "sha256:" + d.String()
}

// UnpackCmd writes a GOPROXY file tree.
type UnpackCmd struct {
	File string `arg:"" help:"Bundle file." type:"path"`
	Dir  string `arg:"" help:"Directory to write the GOPROXY tree into. A new one appears whole or not at all (written beside it, then renamed); into an existing one, each file is written to a temporary name and renamed."`
	baseFlag
}

func (c *UnpackCmd) Run(e *env) error {
	ch, err := openChain(e.ctx, c.File, c.Base, true)
	if err != nil {
		return err
	}
	defer ch.Close()
	var db string
	var unusable, vdbUnusable error
	var vdb *vulndb.Stored
	err = staged(c.Dir, func(dir string) error {
		p := e.newProgress("unpacking", false)
		err := bundle.UnpackAll(e.ctx, ch.all(), dir, bundleProgress(p))
		p.Finish()
		if err != nil {
			return err
		}
		db, unusable, err = unpackSumDB(e.ctx, ch.all(), dir)
		if err != nil {
			return err
		}
		vdb, vdbUnusable, err = unpackVulnDB(e.ctx, ch.all(), dir)
		return err
	})
	if err != nil {
		return err
	}
	if unusable != nil {
		fmt.Fprintf(e.stderr, "gobundle: warning: checksum database data not unpacked: %v\n", unusable)
	}
	if db != "" && !e.quiet {
		fmt.Fprintf(e.stderr, "unpacked checksum database %s data into %s\n", db, filepath.Join(c.Dir, "sumdb"))
	}
	if vdbUnusable != nil {
		fmt.Fprintf(e.stderr, "gobundle: warning: vulnerability database not unpacked: %v\n", vdbUnusable)
	}
	if vdb != nil && !e.quiet {
		out := filepath.Join(c.Dir, vulndb.Dir)
		fmt.Fprintf(e.stderr, "unpacked vulnerability database (%d entries) into %s; use govulncheck -db file://%s\n", vdb.Entries, out, absSlash(out))
	}
	if !e.quiet {
		n := 0
		for _, r := range ch.all() {
			n += r.Stats().Modules
		}
		what := plural(n, "module version", "module versions")
		if len(ch.bases) > 0 {
			what += " of " + plural(len(ch.bases)+1, "bundle", "bundles")
		}
		fmt.Fprintf(e.stderr, "unpacked %s into %s; use GOPROXY=file://%s\n", what, c.Dir, absSlash(c.Dir))
	}
	return nil
}

// created returns the bundle creation time: SOURCE_DATE_EPOCH if set,
// else the zero time, which the bundle package records as a fixed value so
// that bundles are reproducible. A value that is not a non-negative count
// of seconds is a usage error: silently falling back would make a bundle
// whose recorded time nobody asked for.
func (e *env) created() (time.Time, error) {
	s := e.getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, usageError{fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds since 1970", s)}
	}
	return time.Unix(n, 0).UTC(), nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func ratio(a, b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f×", float64(a)/float64(b))
}

// bundleProgress adapts bundle events to a progress drawer.
func bundleProgress(p *progress) func(bundle.Event) {
	return func(ev bundle.Event) {
		if ev.Phase == "warning" {
			p.Warn(ev.Item)
			return
		}
		p.Update(ev.Done, ev.Total, ev.Item)
	}
}

// absSlash returns dir as an absolute, slash-separated path for file:// URLs.
func absSlash(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	dir = filepath.ToSlash(dir)
	if !strings.HasPrefix(dir, "/") {
		dir = "/" + dir // Windows: file:///C:/...
	}
	return dir
}

// openBundle opens the bundle file name, saying so plainly when it is
// missing.
func openBundle(ctx context.Context, name string) (*bundle.Reader, error) {
	r, err := bundle.Open(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such bundle file", name)
	}
	return r, err
}

// checkOutputDir reports why a file named output could not be written, by
// making and removing a temporary file beside it: before create resolves or
// downloads anything, rather than after.
func checkOutputDir(output string) error {
	dir := filepath.Dir(output)
	if st, err := os.Stat(output); err == nil && st.IsDir() {
		return errors.New("is a directory")
	}
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("directory %s does not exist", dir)
		}
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(output)+".check*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// plural returns "1 one" or "n many".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// sizeSplitLine renders a bundle's size split: module files, each kind of
// extra, index.
func sizeSplitLine(s bundle.SizeSplit) string {
	parts := []string{"module content (.info, .mod, zips) " + humanBytes(s.Modules)}
	kinds := make([]string, 0, len(s.Extras))
	for k := range s.Extras {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		name := k
		if k == sumdbstore.Kind {
			name = "checksum database"
		}
		parts = append(parts, name+" "+humanBytes(s.Extras[k]))
	}
	parts = append(parts, "index "+humanBytes(s.Index), "header and trailer "+humanBytes(s.Framing))
	return strings.Join(parts, ", ")
}
