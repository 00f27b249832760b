# gobundle: see README.md. Targets: build, test, bench, demo, install.
GO ?= go
BIN := bin/gobundle
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
# Tests must not depend on this machine's go.env or user settings.
TESTENV := GOFLAGS=-mod=readonly GOTOOLCHAIN=local

.PHONY: build test test-deps bench demo install fuzz fuzz-long reliability differential crossbuild tidy clean

build:
	$(GO) build -buildvcs=auto -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gobundle

install:
	$(GO) install -buildvcs=auto -trimpath -ldflags '$(LDFLAGS)' ./cmd/gobundle

# test runs unit tests, script tests (real go command against the test kit),
# a short fuzz run of the bundle reader, and the cross-OS build check.
test: test-deps crossbuild tidy
	$(TESTENV) $(GO) vet ./...
	$(TESTENV) $(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz

# The differential harness (issue 12) over more generated graphs than the
# 200 of make test: GRAPHS=N to choose.
GRAPHS ?= 2000
differential:
	$(TESTENV) GOBUNDLE_DIFF_GRAPHS=$(GRAPHS) $(GO) test -count=1 -timeout 60m -run '^TestDifferential' ./resolver

# The corpora in bundle/testdata/fuzz are replayed by every go test of
# ./bundle; FuzzRawBundle's comes from 10-minute runs (issue 11). Its
# inputs are slow (whole bundles), so it runs a count, not a time: a time
# limit reached while one is minimized fails with "context deadline
# exceeded".
fuzz:
	$(TESTENV) $(GO) test -count=1 -run '^$$' -fuzz "^FuzzOpen$$" -fuzztime 200000x -fuzzminimizetime 100x ./bundle
	$(TESTENV) $(GO) test -count=1 -run "^$$" -fuzz "^FuzzIndex$$" -fuzztime 100000x -fuzzminimizetime 100x ./bundle
	$(TESTENV) $(GO) test -count=1 -run "^$$" -fuzz "^FuzzIndexIncremental$$" -fuzztime 50000x -fuzzminimizetime 100x ./bundle
	$(TESTENV) $(GO) test -count=1 -run "^$$" -fuzz "^FuzzRawBundle$$" -fuzztime 300x -fuzzminimizetime 20x ./bundle
	$(TESTENV) $(GO) test -count=1 -run "^$$" -fuzz "^FuzzPath$$" -fuzztime 20000x -fuzzminimizetime 100x ./serve
	$(TESTENV) $(GO) test -count=1 -run "^$$" -fuzz "^FuzzInputFiles$$" -fuzztime 1000x -fuzzminimizetime 50x ./resolver

# fuzz-long runs each fuzz target for FUZZTIME (default 10m) on one worker,
# so as not to starve the machine; crashers land in testdata/fuzz and are
# replayed by make test from then on.
FUZZTIME ?= 10m
fuzz-long:
	$(TESTENV) $(GO) test -count=1 -run '^$$' -fuzz '^FuzzPath$$' -fuzztime $(FUZZTIME) -parallel 1 ./serve
	$(TESTENV) $(GO) test -count=1 -run '^$$' -fuzz '^FuzzInputFiles$$' -fuzztime $(FUZZTIME) -parallel 1 ./resolver
	$(TESTENV) $(GO) test -count=1 -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) -parallel 1 ./bundle
	$(TESTENV) $(GO) test -count=1 -run '^$$' -fuzz '^FuzzIndex$$' -fuzztime $(FUZZTIME) -parallel 1 ./bundle
	$(TESTENV) $(GO) test -count=1 -run '^$$' -fuzz '^FuzzRawBundle$$' -fuzztime $(FUZZTIME) -parallel 1 ./bundle

# reliability runs the bad-input catalogue and the fault tests of issue 20
# with their counts recorded, prints the table and keeps it in
# docs/RELIABILITY.md; it fails on any unexpected error, lost or wrong byte.
RELIABILITY_TESTS := ^(TestCatalogue|TestCreateUnderRandomUpstreamFaults|TestDiskFull|TestCreateSIGKILLResumes|TestServeSIGHUPStorm|TestReplicasBehindNginx|TestCommandsRefuseHostileBundles)
reliability: test-deps
	rm -f .reliability.jsonl
	$(TESTENV) GOBUNDLE_RELIABILITY_OUT=$(CURDIR)/.reliability.jsonl $(GO) test -count=1 -run '$(RELIABILITY_TESTS)' ./cmd/gobundle ./serve
	$(GO) run ./internal/reliability -in .reliability.jsonl -md docs/RELIABILITY.md
	rm -f .reliability.jsonl

# tidy fails when go.mod or go.sum is not what go mod tidy writes: a tool
# whose business is go.mod and go.sum keeps its own exact.
tidy:
	GOFLAGS= GOTOOLCHAIN=local $(GO) mod tidy -diff

crossbuild:
	GOOS=windows $(GO) build ./...
	GOOS=darwin $(GO) build ./...

# test-deps installs what the tests need on a fresh machine (root, Debian).
test-deps:
	@command -v unshare >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq util-linux; }
	@command -v ip >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq iproute2; }
	@command -v git >/dev/null 2>&1 && test -x "$$(git --exec-path)/git-http-backend" || { apt-get update -qq && apt-get install -y -qq git; }
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { apt-get update -qq && apt-get install -y -qq nginx-light || apt-get install -y -qq nginx; } || echo "nginx could not be installed: the replica-kill test will skip"

# bench measures size and speed against the stock alternatives in one run;
# it fetches real projects from the upstream proxy. Never part of test.
# STAGES=carry,latency runs only those stages (go run ./internal/bench -list).
STAGES ?=
bench: build
	$(GO) run ./internal/bench $(if $(STAGES),-stages $(STAGES)) $(BENCHFLAGS)

# demo: create a bundle of this project, verify, inspect, serve it, build offline.
demo: build
	./internal/demo/demo.sh

clean:
	rm -rf bin out .bench
