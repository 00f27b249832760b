package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestOneMeaningPerFlagName walks kong's model of every command and asserts
// that a flag name means one thing wherever it appears: the same Go type,
// kong type and default (issue 13, point 7: --jobs was mirror
// requests in create and compression workers in pack; --cache was create's
// download cache, on by default, and pack's frame cache, off by default).
func TestOneMeaningPerFlagName(t *testing.T) {
	var cli CLI
	parser, err := kong.New(&cli, kong.Name("gobundle"), kong.Exit(func(int) {}),
		kong.Vars{"version": "test"})
	if err != nil {
		t.Fatal(err)
	}
	type use struct{ cmd, sig string }
	uses := map[string][]use{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if f.Hidden {
				continue
			}
			// A repeatable flag (serve --sumdb) means the same as a
			// single one of its element type; placeholders differ
			// with what a command accepts of one syntax (GOSUMDB).
			ty := f.Target.Type()
			if ty.Kind() == reflect.Slice {
				ty = ty.Elem()
			}
			sig := fmt.Sprintf("go type %s, kong type %q, default %q", ty, f.Tag.Type, f.Default)
			uses[f.Name] = append(uses[f.Name], use{n.FullPath(), sig})
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)
	names := make([]string, 0, len(uses))
	for n := range uses {
		names = append(names, n)
	}
	sort.Strings(names)
	shared := 0
	for _, name := range names {
		us := uses[name]
		if len(us) > 1 {
			shared++
		}
		for _, u := range us[1:] {
			if u.sig != us[0].sig {
				var b strings.Builder
				for _, u := range us {
					fmt.Fprintf(&b, "\n  %s: %s", u.cmd, u.sig)
				}
				t.Errorf("--%s means different things:%s", name, b.String())
				break
			}
		}
	}
	// The walk must have seen the flags shared across commands (such as
	// --output, --json, --cache, --compress-workers), or it checks nothing.
	if shared < 4 {
		t.Fatalf("only %d flag names shared across commands: the walk of kong's model is broken", shared)
	}
	for _, want := range []string{"compress-workers", "jobs", "cache", "compress-cache"} {
		if len(uses[want]) == 0 {
			t.Errorf("no command has --%s", want)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1": 1, "512B": 512, "5GiB": 5 << 30, "2 MiB": 2 << 20, "3KB": 3000, "1TB": 1e12} {
		var s byteSize
		if err := s.UnmarshalText([]byte(in)); err != nil || int64(s) != want {
			t.Errorf("%q: %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "x", "5x", "1.5GiB", "-1", "GiB", "99999999999TiB"} {
		var s byteSize
		if err := s.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q: %d, want an error", in, s)
		}
	}
}
