package testkit

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain registers a test double of `gobundle serve` as the gobundle
// command, so the kit's background mechanics are tested on their own.
func TestMain(m *testing.M) {
	Main(m, map[string]func(){"gobundle": fakeServe}, os.Getenv)
}

// fakeServe behaves as the serve contract says, or breaks it on demand:
// `gobundle serve --listen ADDR MODE` where MODE is ok (print the GOPROXY
// line, answer /healthz, stop on SIGTERM), exit (fail at once) or silent
// (never print the line).
func fakeServe() {
	args := os.Args[1:]
	if len(args) == 6 && args[3] == "--zip-cache" {
		args = append(args[:3:3], args[5])
	}
	if len(args) != 4 || args[0] != "serve" || args[1] != "--listen" {
		fmt.Fprintf(os.Stderr, "fake gobundle: unexpected arguments %q\n", args)
		os.Exit(2)
	}
	switch args[3] {
	case "exit":
		fmt.Fprintln(os.Stderr, "fake gobundle: cannot open bundle")
		os.Exit(1)
	case "silent":
		time.Sleep(time.Hour)
	}
	ln, err := net.Listen("tcp", args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	fmt.Printf("serving on %s\nGOPROXY=http://%s\n", ln.Addr(), ln.Addr())
	<-ctx.Done()
	srv.Shutdown(context.Background())
	fmt.Fprintln(os.Stderr, "fake gobundle: stopped on signal")
}

func TestScript(t *testing.T) {
	testscript.Run(t, Params(t, "testdata/script"))
}

func TestSafeGoEnv(t *testing.T) {
	env := strings.Join(SafeGoEnv("/w", ""), "\n")
	for _, want := range []string{"GOENV=off", "GOPROXY=off", "GOSUMDB=off", "GOTOOLCHAIN=local", "GOCACHE=/w/gocache", "GOMODCACHE=/w/gopath/pkg/mod", "GOPRIVATE=", "GONOSUMDB=", "GONOPROXY="} {
		if !strings.Contains(env+"\n", want+"\n") {
			t.Errorf("SafeGoEnv lacks %s", want)
		}
	}
}
