package resolver

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/module"
)

// # Gaps
//
// The resolver is as strict as the go command where strictness adds
// safety, and no stricter. Two failures the go command never meets in
// everyday use are left out of a bundle with a warning (a [Gap]) instead
// of failing it, unless [Config.Strict] is set:
//
//   - a 404, 403 or 410 for the go.mod of a module version that only the
//     full, unpruned module graph reaches: not read by module graph pruning
//     (for main modules at go 1.18 or later, and workspaces) and not in the
//     build list whose zips are bundled;
//   - a checksum database 404 or 410 for a module version whose hash an
//     input's go.sum pins (and matched): a database need not know every
//     module (deleted origins, modules it could not fetch), and the go
//     command does not ask it about what go.sum lists.
//
// The same holds for the .info file of such a module version.
//
// Everything else stays a hard error: a needed file that cannot be
// fetched, a hash that differs from go.sum or the database, a module
// version nobody vouches for (unknown to the database and not in go.sum).

// Gap is a file left out of a bundle.
type Gap struct {
	Path, Version string
	File          string // "go.mod", or "sumdb" for a missing database record
	Reason        string // one line: what answered what, and why it is not needed
}

func (g Gap) String() string {
	return fmt.Sprintf("%s@%s %s: %s", g.Path, g.Version, g.File, g.Reason)
}

// GapError is a gap turned into an error by [Config.Strict].
type GapError struct{ Gap Gap }

func (e *GapError) Error() string { return e.Gap.String() + " (an error with --strict)" }

// gapList collects gaps from several goroutines.
type gapList struct {
	mu   sync.Mutex
	gaps []Gap
}

func (l *gapList) add(g Gap) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.gaps {
		if o == g {
			return
		}
	}
	l.gaps = append(l.gaps, g)
}

func (l *gapList) sorted() []Gap {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]Gap(nil), l.gaps...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.File < b.File
	})
	return out
}

// missingFile reports whether err is a mirror's 404, 403 or 410 (or the
// go command's not found, for direct), and not a verification failure.
func missingFile(err error) bool {
	var cs *ChecksumError
	var ve *VerifyError
	if errors.As(err, &cs) || errors.As(err, &ve) {
		return false
	}
	var se *statusError
	if errors.As(err, &se) && se.Code == http.StatusForbidden {
		return true
	}
	return errors.Is(err, fs.ErrNotExist)
}

// prunable reports whether the go command reads only the pruned graph for
// p: main modules at go 1.18 or later (go 1.17's tidy also checks the
// unpruned graph), or a workspace.
func (p *project) prunable() bool {
	return p.workspace || goAtLeast(p.goVersion, 1, 18)
}

// graphGaps sorts the failed loads of a walk: those only the full graph
// reaches become gaps (unless strict), the rest stay failures. needed is
// every module version whose go.mod the go command reads for p.
func graphGaps(p *project, failed []failure, needed map[module.Version]bool, strict bool) (gaps []Gap, hard []failure) {
	for _, f := range failed {
		if strict || !p.prunable() || needed[f.m] || !missingFile(f.err) {
			hard = append(hard, f)
			continue
		}
		gaps = append(gaps, Gap{Path: f.m.Path, Version: f.m.Version, File: "go.mod",
			Reason: "left out: " + oneLine(strings.TrimPrefix(f.err.Error(), modString(f.m)+": ")) +
				" (only the full module graph reaches it; the go command's pruned graph and build list do not)"})
	}
	return gaps, hard
}

// noteNeeded records what the go command reads for project p, once its
// walk is over.
func (l *loader) noteNeeded(p *project, g *graph) {
	needed := g.neededMods(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !p.prunable() {
		l.allNeeded = true
	}
	if l.needed == nil {
		l.needed = map[module.Version]bool{}
	}
	for m := range needed {
		l.needed[m] = true
	}
}

// missingInfo records an .info file the mirrors do not have.
func (l *loader) missingInfo(m module.Version, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.infoMiss = append(l.infoMiss, failure{m: m, err: err})
}

// infoWait waits for the .info lane, then sorts the missing .info files:
// those of module versions only the full graph reaches are gaps (unless
// strict); a needed one is an error naming the first, in module order.
func (l *loader) infoWait() error {
	if err := l.infos.wait(); err != nil {
		return err
	}
	l.mu.Lock()
	miss := append([]failure(nil), l.infoMiss...)
	needed, all := l.needed, l.allNeeded
	l.mu.Unlock()
	sort.Slice(miss, func(i, j int) bool { return lessVersion(miss[i].m, miss[j].m) })
	for _, f := range miss {
		if l.strict || all || needed[f.m] {
			return fmt.Errorf("%s@%s: info: %w", f.m.Path, f.m.Version, f.err)
		}
	}
	for _, f := range miss {
		gap := Gap{Path: f.m.Path, Version: f.m.Version, File: "info",
			Reason: "left out: " + oneLine(strings.TrimPrefix(f.err.Error(), modString(f.m)+": ")) +
				" (only the full module graph reaches it; the go command's pruned graph and build list do not)"}
		l.log.Warn("module version left out", "gap", gap.String())
		l.gaps.add(gap)
	}
	return nil
}
