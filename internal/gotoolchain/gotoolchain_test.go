package gotoolchain

import (
	"errors"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		vers string
		want Toolchain
		ok   bool
	}{
		{"v0.0.1-go1.27.4.linux-amd64", Toolchain{"go1.27.4", Platform{"linux", "amd64"}}, true},
		{"v0.0.1-go1.28rc1.darwin-arm64", Toolchain{"go1.28rc1", Platform{"darwin", "arm64"}}, true},
		{"v0.0.1-go1.18.linux-amd64", Toolchain{"go1.18", Platform{"linux", "amd64"}}, true},
		{"v0.0.1-go1.27.4-bigcorp.linux-amd64", Toolchain{"go1.27.4-bigcorp", Platform{"linux", "amd64"}}, true},
		{"v0.0.2-go1.27.4.linux-amd64", Toolchain{}, false},
		{"v0.0.1-go1.27.4.linux", Toolchain{}, false},
		{"v0.0.1-gox.linux-amd64", Toolchain{}, false},
		{"v0.0.1-go1.27.4.Linux-amd64", Toolchain{}, false},
		{"v1.0.0", Toolchain{}, false},
	} {
		got, ok := Parse(tc.vers)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", tc.vers, got, ok, tc.want, tc.ok)
		}
		if ok && got.ModuleVersion() != tc.vers {
			t.Errorf("Parse(%q).ModuleVersion() = %q", tc.vers, got.ModuleVersion())
		}
	}
}

func TestParsePlatform(t *testing.T) {
	if p, err := ParsePlatform("linux/arm64"); err != nil || p != (Platform{"linux", "arm64"}) {
		t.Errorf("ParsePlatform(linux/arm64) = %v, %v", p, err)
	}
	for _, bad := range []string{"linux", "linux/", "/amd64", "Linux/amd64", "linux/amd64/v2", "linux-amd64", "../x"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) succeeded", bad)
		}
	}
}

func TestCanonical(t *testing.T) {
	for arg, want := range map[string]string{"go1.27.4": "go1.27.4", "1.27.4": "go1.27.4", "1.27": "go1.27", "go1.28rc1": "go1.28rc1"} {
		if got, err := Canonical(arg); err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", arg, got, err, want)
		}
	}
	for _, bad := range []string{"", "auto", "1", "go1", "1.27.x", "go1.27.4-bigcorp", "1.27.4+auto", "local"} {
		if got, err := Canonical(bad); err == nil {
			t.Errorf("Canonical(%q) = %q, want an error", bad, got)
		}
	}
}

// TestSelect follows the cases of cmd/go's toolchain selection
// (https://go.dev/doc/toolchain#select) for a go command of version local.
func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		goLine, toolchain, local, want string
	}{
		// A go line newer than the local go: its version, 1.N meaning 1.N.0.
		{"1.27.0", "", "go1.26.8", "go1.27.0"},
		{"1.27", "", "go1.26.8", "go1.27.0"},
		{"1.27rc2", "", "go1.26.8", "go1.27rc2"},
		{"1.27.3", "", "go1.27.3", ""},
		{"1.26", "", "go1.26.8", ""},
		// A toolchain line counts when newer than the local go, and the go
		// line only when newer than both.
		{"1.27.0", "go1.27.4", "go1.26.8", "go1.27.4"},
		{"1.27.0", "go1.27.4", "go1.27.2", "go1.27.4"},
		{"1.27.0", "go1.27.4", "go1.27.5", ""},
		{"1.27.3", "go1.27.1", "go1.26.8", "go1.27.3"},
		{"1.25.0", "go1.27.4", "go1.26.8", "go1.27.4"},
		{"1.25.0", "go1.27.4-bigcorp", "go1.26.8", "go1.27.4-bigcorp"},
		// toolchain default: never switch.
		{"1.27.0", "default", "go1.26.8", ""},
		// No go command switches to a version before 1.21.
		{"1.20", "", "", ""},
		{"1.16", "", "", ""},
		// An unknown local version: older than all.
		{"1.21", "", "", "go1.21.0"},
		{"", "go1.23.4", "", "go1.23.4"},
		{"", "", "", ""},
	} {
		got, err := Select("go.mod", tc.goLine, tc.toolchain, tc.local)
		if err != nil || got != tc.want {
			t.Errorf("Select(go %q, toolchain %q, local %q) = %q, %v; want %q", tc.goLine, tc.toolchain, tc.local, got, err, tc.want)
		}
	}
	for _, bad := range []string{"1.27.4", "gox", "go1.27.4/../x", "mycorp"} {
		if _, err := Select("a/go.mod", "1.21", bad, "go1.26.8"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Select with toolchain %q: err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestNewer(t *testing.T) {
	list := []string{"go1.25.6", "go1.26.0", "go1.26.7", "go1.26.8", "go1.27rc1", "go1.27.0", "go1.27.3", "go1.28rc2"}
	for _, tc := range []struct{ need, want string }{
		// The newest family with a release after it: 1.26's newest patch.
		{"go1.25.0", "go1.26.8"},
		// Nothing newer is released: the newest of the family needed.
		{"go1.27.0", "go1.27.3"},
		{"go1.27rc1", "go1.27.3"},
		// Only a release candidate reaches it.
		{"go1.28rc1", "go1.28rc2"},
	} {
		if got, err := Newer(tc.need, list); err != nil || got != tc.want {
			t.Errorf("Newer(%q) = %q, %v; want %q", tc.need, got, err, tc.want)
		}
	}
	if got, err := Newer("go1.29.0", list); err == nil {
		t.Errorf("Newer(go1.29.0) = %q, want an error", got)
	}
}

func TestLatest(t *testing.T) {
	list := []string{"go1.27rc1", "go1.27.0", "go1.27.10", "go1.27.9", "go1.28rc1", "go1.20", "go1.20.3", "go1.27"}
	for lang, want := range map[string]string{"go1.27": "go1.27.10", "go1.28": "", "go1.20": "go1.20.3", "go1.26": ""} {
		if got := Latest(lang, list); got != want {
			t.Errorf("Latest(%q) = %q, want %q", lang, got, want)
		}
	}
}

func TestNamesAndDescribe(t *testing.T) {
	vs := []string{"v0.0.1-go1.27.4.linux-amd64", "v0.0.1-go1.27.4.darwin-arm64", "v0.0.1-go1.26.8.linux-amd64",
		"v0.0.1-go1.27.3.windows-amd64", "junk", "v0.0.1-go1.27.10.linux-amd64"}
	lin := []Platform{{"linux", "amd64"}}
	if got, want := Names(vs, lin), []string{"go1.26.8", "go1.27.4", "go1.27.10"}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	var ts []Toolchain
	for _, v := range vs {
		if tc, ok := Parse(v); ok {
			ts = append(ts, tc)
		}
	}
	want := "go1.27.10 (linux/amd64), go1.27.4 (darwin/arm64, linux/amd64), go1.27.3 (windows/amd64), go1.26.8 (linux/amd64)"
	if got := Describe(ts); got != want {
		t.Errorf("Describe = %q\nwant      %q", got, want)
	}
	if got := Describe(nil); got != "none" {
		t.Errorf("Describe(nil) = %q", got)
	}
}
