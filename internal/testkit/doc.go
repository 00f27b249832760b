// Package testkit is gobundle's hermetic test kit: fake upstream module
// proxies, a fake checksum database, module fixtures and a generator, and
// the testscript commands that let scripts drive the real go command
// against them, with no network but loopback.
//
// Its parts:
//
//   - [github.com/gobundle/gobundle/internal/testkit/fixtures]: module
//     versions as txtar files (fixtures/mod), fixture projects (fixtures/projects),
//     zips built with golang.org/x/mod/zip, go.sum hashes, a full-graph walker
//     that writes go.sum, and [fixtures.Generate] for large graphs.
//   - [github.com/gobundle/gobundle/internal/testkit/fakeproxy]: the fake
//     GOPROXY on 127.0.0.1 with a request log and faults.
//   - [github.com/gobundle/gobundle/internal/testkit/fakesumdb]: the fake
//     checksum database (golang.org/x/mod/sumdb server over an in-memory
//     tlog, a note key per run), which can lie.
//   - [github.com/gobundle/gobundle/internal/testkit/githost]: the private
//     git host (git http-backend behind net/http/cgi, go-import answers,
//     basic auth), reached under its private name through HTTP_PROXY.
//   - this package: the script harness ([Main], [Params], [Setup],
//     [Commands], [Condition]).
//
// # Adding a scenario (a script)
//
// Write cmd/gobundle/testdata/script/NAME.txtar; `go test ./cmd/gobundle
// -run TestScript/NAME` runs it. A typical script:
//
//	# Log whether the air gap is enforced.
//	airgap
//	# A fake GOPROXY with every fixture ($UPSTREAM, GOPROXY) and a fake
//	# checksum database (GOSUMDB, direct).
//	upstream start
//	sumdb start
//	# The hello project, into ./hello.
//	fixture hello
//	cd hello
//	# The real go command (exec is required) and gobundle.
//	exec go build ./...
//	exec gobundle create -o $WORK/b.gobundle .
//	# gobundle serve in the background ($GOBUNDLE_PROXY).
//	serve $WORK/b.gobundle
//	env GOPROXY=$GOBUNDLE_PROXY
//	env GOMODCACHE=$WORK/cold
//	upstream resetlog
//	exec go build ./...
//	! upstream requested '*'
//
// (testscript has no trailing comments: a comment is a line of its own.)
//
// Every script starts with [SafeGoEnv]: GOENV=off, GOPATH and GOMODCACHE
// under $WORK/gopath, the host's build cache as GOCACHE (build outputs
// only), GOFLAGS=-modcacherw, GOTOOLCHAIN=local, GOPROXY=off, GOSUMDB=off,
// empty GONOSUMDB, GONOSUMCHECK, GOPRIVATE, GONOPROXY and GOINSECURE,
// GOVCS=*:off, CGO_ENABLED=0. So a script reaches nothing until it starts
// a fake server, and never the real upstream or checksum database. Set
// GOFLAGS='-mod=mod -modcacherw' where the go command must write go.sum.
//
// # Commands
//
//	upstream start [-name NAME] [-seed N] [-tls] [-auth USER:PW] [-only PAT]... [-skip PAT]... [-nofixtures] [-gen NxM [-genseed S] [-gendeps D]]
//	    Start a fake upstream serving the fixtures (all, or those matching
//	    -only and not -skip; PAT is a path.Match pattern on the module path,
//	    or on path@version if it holds "@", or PATH/... for a subtree), plus a
//	    generated graph with -gen. Sets $NAME (default UPSTREAM) to its URL,
//	    $NAME_HOST to its 127.0.0.1:PORT, and GOPROXY too for the default
//	    name. -seed drives random faults. -auth requires HTTP basic auth
//	    (401 otherwise) and writes $WORK/NAME.netrc for it (the go command
//	    matches "machine 127.0.0.1:PORT"). -tls serves https://127.0.0.1:PORT and sets
//	    SSL_CERT_FILE to a file holding its certificate (the go command
//	    sends credentials, from https://USER:PW@$NAME_HOST or a .netrc,
//	    only over https).
//	upstream stop [-name NAME]
//	    Stop it: connections to its port are then refused.
//	    A started sumdb is mounted on it under /sumdb/<name>/.
//	upstream fault [-name NAME] [-first N] [-prob P] [-delay D] [-chunk B] [-kinds K,K] KIND [URLPAT]
//	    Add a fault (see fakeproxy.Fault). KIND: latency 404 410 403 500
//	    reset truncate corrupt trickle latest404 random. URLPAT is a glob on
//	    the %-decoded URL path ("*" crosses "/"), e.g. '/example.com/a/*',
//	    '*.zip', '/sumdb/*'. -first N: only the first N requests for each
//	    path (then they pass: retries). -prob P: seeded, deterministic.
//	upstream clearfaults | log | resetlog [-name NAME]
//	    log prints "METHOD PATH STATUS [fault=KIND]" lines to stdout.
//	[!] upstream requested [-name NAME] [-count N] URLPAT
//	    Assert at least one (exactly N; with "!", no) logged request matches.
//	sumdb start [-name NAME] [-lie PATH@VERSION[/go.mod]]... [-lazy] [-gen NxM ...]
//	    Start the fake checksum database over the fixtures and generated
//	    sets; -lie puts a wrong zip (or go.mod) hash in that record. Sets
//	    $SUMDB_NAME (default: its 127.0.0.1:PORT, so even a fallback to
//	    https://<name> stays on loopback), $SUMDB_KEY (verifier key),
//	    $SUMDB_URL and GOSUMDB="$SUMDB_KEY $SUMDB_URL". To go through an
//	    upstream's /sumdb/ path instead: env GOSUMDB=$SUMDB_KEY.
//	sumdb grow N
//	    Append N records of module versions nobody serves
//	    (example.com/grown/…): later lookups carry a newer tree head.
//	[!] sumdb requested [-count N] URLPAT
//	    Assert on the requests the database answered directly
//	    ('/lookup/example.com/a@v1.1.0', '/tile/*').
//	fixture PROJECT [DIR] | fixture -gen NxM [-genseed S] [-gendeps D] DIR
//	    Write a fixture project (hello, work, newgo: fixtures/projects) or
//	    the generated project (requires every generated module at its
//	    latest; its full graph holds all N×M versions).
//	modules DIR
//	    Add the module versions laid out as DIR/<path>@<version>/ (their
//	    zip's files, plus optional .mod and .info; see fixtures.LoadTree)
//	    to the fixtures served by upstreams and the sumdb started after it.
//	toolchain NAME [OS/ARCH]...
//	    Add a fake Go toolchain NAME (e.g. go1.99.1) for each platform
//	    (default: this machine's) in the real golang.org/toolchain layout
//	    (fixtures.Toolchain: its bin/go prints "go version NAME OS/ARCH") to
//	    the fixtures, like modules.
//	gosum [DIR]
//	    Write go.sum (go.work.sum for a workspace) for DIR from the kit's
//	    modules: a /go.mod line for every node of the full graph and a zip
//	    line for every module of the build list (a superset of tidy's).
//	[!] serve [ARG]... | serve -stop
//	    Run `gobundle serve --listen 127.0.0.1:0 ARG...` in the background,
//	    wait for its "GOPROXY=http://…" line ($SERVE_TIMEOUT, default 30s),
//	    set $GOBUNDLE_PROXY. -stop sends SIGTERM, waits, prints its output
//	    to stdout and fails on a bad exit. Servers still running stop at the
//	    end of the script. "! serve" expects it to fail to start.
//	githost start [-name HOST] [-tls] [-auth REPO=USER:PW]... DIR
//	    Build bare git repositories from DIR/REPO/N@REF snapshot
//	    directories (see the githost package) and serve them as
//	    http://HOST/REPO (default git.corp.example): ?go-get=1 gets the
//	    go-import meta tag, the rest is git's smart HTTP. The host is a
//	    forward proxy: it sets HTTP_PROXY and http_proxy ($GITHOST_PROXY),
//	    so the go command and git reach HOST by name with no DNS (loopback
//	    servers are never proxied). Scripts set GOPRIVATE=HOST,
//	    GOINSECURE=HOST (plain http) and GOVCS=private:git. -auth requires
//	    basic auth for REPO and writes $WORK/githost.netrc (git reads
//	    $HOME/.netrc). -tls answers https://HOST too (CONNECT through the
//	    proxy: HTTPS_PROXY, https_proxy) with a certificate of a test CA
//	    ($WORK/githost-ca.pem as SSL_CERT_FILE and GIT_SSL_CAINFO); go-import
//	    answers then name https repositories and GOINSECURE is not needed.
//	githost retag REPO TAG FILE CONTENT
//	    Move TAG to a new commit with FILE changed: a tampered repository.
//	githost log | [!] githost requested URLPAT
//	    The host's request log ("METHOD SCHEME://HOST PATH STATUS"); assert on paths.
//	fetch [-status CODE] [-method M] URL
//	    GET a loopback URL, print the body, check the status.
//	airgap
//	    Log whether the air gap is enforced.
//
// Condition [airgap] is true when the script runs in a network namespace
// with loopback only.
//
// # Air gap
//
// [Main] (from TestMain) re-executes the whole test binary under
// `unshare --net --mount` when it runs as root with unshare and ip: the
// fake servers, gobundle serve and the go commands of every script share a
// namespace whose only interface is lo. [AirGapped] proves it by reading
// /sys/class/net and /proc/self/net/dev; nothing is ever dialled to check.
// Elsewhere scripts run as they are and `airgap` logs "air gap not
// enforced"; GOPROXY/GOSUMDB still point only at loopback.
//
// # Adding fixtures
//
// A module version: add fixtures/mod/<escaped path with / as _>_<escaped
// version>.txt (example.com_!upper_!mod_v1.0.0.txt) holding -- .mod --,
// -- .info -- and the zip's files (see the fixtures package). A project:
// add fixtures/projects/NAME.txt. If it has a go.sum, add NAME to
// TestProjectsTidy and run `go test ./internal/testkit -run
// TestProjectsTidy -update` to write the go.mod and go.sum that go mod tidy
// writes; that test then keeps them honest.
//
// # From Go tests
//
//	set, _ := fixtures.All()
//	up := fakeproxy.Start(set, seed)              // up.URL; up.AddFault(fakeproxy.Fault{…}); up.Requests()
//	db, _ := fakesumdb.Start(set, fakesumdb.Options{})
//	up.MountSumDB(db.Name(), db.Handler())        // GOSUMDB=db.VerifierKey() through up
//	big := fixtures.Generate(fixtures.GenOptions{Modules: 2000, Versions: 5, Seed: 1})
//
// To add script commands in another package, start from [Params] and add
// to its Cmds; state shared with the kit's commands is per script.
package testkit
