package bundle

import (
	"bytes"
	"context"
	"testing"
)

// TestSizeSplit: the split adds up to the file size, and module files and
// extras land in their own parts.
func TestSizeSplit(t *testing.T) {
	ctx := context.Background()
	w, err := NewWriter(WriterOptions{TempDir: t.TempDir(), FrameSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mod := []byte("module example.com/a\n")
	if err := w.AddModule(ctx, ModuleSource{Path: "example.com/a", Version: "v1.0.0", Mod: mod, Info: []byte(`{"Version":"v1.0.0"}`)}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("tile data that is not the module's "), 4000)
	if err := w.AddExtra(ctx, ExtraSource{Kind: "sumdb", Name: "tile/8/0/000", Data: big}); err != nil {
		t.Fatal(err)
	}
	// The same bytes as the .mod: the blob is the module's.
	if err := w.AddExtra(ctx, ExtraSource{Kind: "other", Name: "copy", Data: mod}); err != nil {
		t.Fatal(err)
	}
	name := t.TempDir() + "/b.gobundle"
	st, err := w.WriteFile(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := r.SizeSplit()
	sum := s.Modules + s.Index + s.Framing
	for _, n := range s.Extras {
		sum += n
	}
	if sum != st.FileSize {
		t.Errorf("split %+v adds up to %d, file is %d", s, sum, st.FileSize)
	}
	if s.Modules <= 0 || s.Extras["sumdb"] <= 0 || s.Index != st.IndexSize || s.Framing <= 0 {
		t.Errorf("split %+v: want modules, sumdb, index (%d) and framing all counted", s, st.IndexSize)
	}
	if _, ok := s.Extras["other"]; ok && s.Extras["other"] != 0 {
		t.Errorf("an extra with a module file's bytes got %d bytes of its own", s.Extras["other"])
	}
}
