// Package serve owns the disconnected side: a read-only GOPROXY (and checksum
// database) over one or many opened bundles.
//
// # Merged view
//
// [New] opens every bundle named by [Options.Bundles] (files, or the
// *.gobundle files of directories; hidden files are skipped as being
// written) and merges their indexes into one view, without reading any
// content: a map from escaped module path to versions. The same module
// version in two bundles must have identical content (same .info and .mod
// sha256, same zip h1: hash), or New fails with a [*ConflictError] naming
// both bundles. Files present in only one of them are served from it.
//
// # Incremental bundles
//
// An incremental bundle (docs/FORMAT.md) holds only what its bases lack and
// reads the rest from them: the view links it to its bases by bundle
// digest among the loaded bundles. One whose bases are not all loaded is
// refused: named as a file, [New] (or a reload) fails naming the missing
// digest; found in a directory, it is skipped, logged, named by /healthz
// and counted by gobundle_serve_bundles_missing_base, and served once a
// reload finds its base.
//
// # Protocol
//
// The handler answers the GOPROXY protocol:
//
//	/MODULE/@v/list             versions with an .info, no pseudo-versions, semver order
//	/MODULE/@v/VERSION.info     application/json
//	/MODULE/@v/VERSION.mod      text/plain
//	/MODULE/@v/VERSION.zip      application/zip
//	/MODULE/@latest             the go command's choice: highest release, else
//	                            prerelease, else pseudo-version, skipping versions
//	                            retracted by the highest version's go.mod
//
// MODULE and VERSION are case-escaped ([golang.org/x/mod/module.EscapePath]).
// Anything not in the view is a 404 whose plain-text body names what was
// asked and says it is not in the loaded bundles, so GOPROXY=serve,other
// falls through and the go command shows the reason. Malformed escapes and
// paths are 400, methods other than GET and HEAD 405.
//
// # Checksum database
//
// Bundles made by create carry checksum database data (records, one signed
// tree head, tiles; see internal/sumdbstore). For each database <name> in
// the loaded bundles:
//
//	/sumdb/<name>/supported          200, empty (404 when no bundle has data
//	                                 for <name>, so the go command falls back)
//	/sumdb/<name>/lookup/M@V         record + the newest tree head the merged
//	                                 tiles prove it in; 404 when no bundle has it
//	/sumdb/<name>/tile/8/L/N[.p/W]   tile, cut from a wider one when needed
//	/sumdb/<name>/latest             the newest tree head
//
// Several bundles merge: tree heads, records and tiles must agree (else the
// load fails, as for modules); older trees the tiles prove consistent with
// the newest are reported in [Stats], so are those they cannot.
//
// Versioned files carry ETag (the content's sha256 in quotes), honour
// If-None-Match and Range, and are marked Cache-Control immutable; list and
// @latest get a short max-age.
//
// # Checked bytes
//
// Zips are sent deflated, no larger than the mirror sent them, when
// [Options.ZipCacheDir] is set: each is made once from the bundle's
// checked contents into that directory, checked against the sha256 the
// bundle records for its deflated form, and sent from there (see
// zipcache.go and docs/FORMAT.md, "Zips as served"); a zip this build's
// compressor does not reproduce is sent stored instead.
//
// Every byte sent was checked against the bundle's sha256: files up to
// 1 MiB are read and checked whole before the status line is sent, so
// corrupt content is answered 500 and logged; larger zips are checked while
// streamed, and a failure mid-body breaks the connection
// ([net/http.ErrAbortHandler]) so the client never takes a short or wrong
// body for a good one. Small .info and .mod files stay in memory once read
// and are checked against their sha256 again on every answer.
//
// # Reloads
//
// [Server.Reload] (SIGHUP in the command) and, with [Options.PollInterval],
// a poller that notices changed bundle files build a new view and swap it
// in atomically. Unchanged bundles are not reopened. A request keeps the
// view it started with; a bundle's reader is closed only when no view and
// no request uses it any more, so a download in flight finishes from the
// bundle it started on. A bundle file that cannot be opened (truncated,
// half-copied, not a bundle) is skipped, at start and at reload, logged and
// named by /healthz ("degraded: …", still 200) and by
// gobundle_serve_bundle_bad{bundle} in /metrics, while the others are
// served; it is tried again when it changes. A reload that fails
// (conflicting bundles) is logged once and the previous view stays.
//
// # Misses and the vulnerability database
//
// Requests answered 404 for a module version, a list, @latest or a
// checksum database record are kept as misses (misses.go; never the
// client's address): GET /-/misses lists them in `gobundle create --from`
// syntax (?format=json for counts and times), [Options.MissesFile] keeps
// them across restarts, gobundle_serve_misses_total{kind} counts them.
// Bundles made with create --vulndb carry the Go vulnerability database:
// the newest one loaded is answered under /vulndb/ (vulndb.go), as
// govulncheck -db http://HOST/vulndb reads it.
//
// # Operations
//
// /healthz answers 200 once the bundles are open. /metrics gives, in the
// Prometheus text format: gobundle_serve_requests_total{kind,code},
// gobundle_serve_response_bytes_total{kind},
// gobundle_serve_request_duration_seconds{kind} (histogram),
// gobundle_serve_requests_in_flight, gobundle_serve_corrupt_total,
// gobundle_serve_reloads_total{result}, gobundle_serve_bundles_loaded and
// gobundle_serve_module_versions. With [Options.AccessLog], each request is
// logged at Info on [Options.Logger].
package serve
