package pipeline

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/mod/module"

	"github.com/gobundle/gobundle/bundle"
	"github.com/gobundle/gobundle/resolver"
)

// newWriter opens the bundle writer with o, its frame cache under the
// download cache o.CacheDir.
func newWriter(o bundle.WriterOptions) (*bundle.Writer, error) {
	o.CacheDir = filepath.Join(o.CacheDir, "bundle")
	return bundle.NewWriter(o)
}

// resolveGraph resolves cfg. With a writer w, the bundle is written while
// the resolver works: each zip is read into it as it is hashed for
// verification (once), and content frames are compressed as soon as the
// graph is known and their zips are in. have are module versions whose
// zips w holds already (toolchains), announced with the graph's.
func resolveGraph(ctx context.Context, cfg resolver.Config, w *bundle.Writer, have []module.Version) (*resolver.Result, error) {
	if w != nil {
		cfg.HashZip = func(ctx context.Context, m module.Version, f resolver.Fetched) (string, error) {
			return w.PrepareZip(ctx, m.Path, m.Version, f.File, f.SHA256)
		}
		cfg.Graph = func(ctx context.Context, mods []resolver.Module, zips []module.Version) error {
			for _, m := range mods {
				if err := w.AddModule(ctx, moduleSource(m)); err != nil {
					return err
				}
			}
			return w.Expect(append(zips, have...))
		}
		cfg.Zip = func(ctx context.Context, m resolver.Module) error {
			return w.AddModule(ctx, moduleSource(m))
		}
	}
	return resolver.Resolve(ctx, cfg)
}

// moduleSource is what the bundle writer needs of a resolved module.
func moduleSource(m resolver.Module) bundle.ModuleSource {
	src := bundle.ModuleSource{
		Path: m.Path, Version: m.Version,
		Info: m.Info, Mod: m.Mod, InfoOrigin: m.InfoOrigin, ModOrigin: m.ModOrigin,
	}
	if m.Zip != nil {
		src.ZipFile, src.ZipOrigin = m.Zip.File, m.Zip.Origin
		src.ZipSHA256, src.ZipHash = m.Zip.SHA256, m.ZipHash
	}
	return src
}

// gapProperties records the files left out in the bundle's metadata, one
// property each ("left-out PATH@VERSION FILE"), for inspect.
func gapProperties(gaps []resolver.Gap) []bundle.Property {
	var props []bundle.Property
	for _, g := range gaps {
		props = append(props, bundle.Property{Key: "left-out " + g.Path + "@" + g.Version + " " + g.File, Value: g.Reason})
	}
	return props
}

// addModules hands every resolved module version to the writer w, which
// has most of them already, GOMAXPROCS at a time, with events of stage
// "add".
func addModules(ctx context.Context, w *bundle.Writer, mods []resolver.Module, emit func(Event)) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		done  int64
	)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, m := range mods {
		src := moduleSource(m)
		select {
		case sem <- struct{}{}:
		case <-cctx.Done():
		}
		if cctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := w.AddModule(cctx, src)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
				cancel()
			}
			done++
			emit(Event{Stage: "add", Item: m.Path + "@" + m.Version, Done: done, Total: int64(len(mods))})
		}()
	}
	wg.Wait()
	emit(Event{Stage: "add", End: true})
	if first == nil {
		first = ctx.Err()
	}
	return first
}
