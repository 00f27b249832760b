package pipeline

import (
	"context"
	"errors"

	"github.com/gobundle/gobundle/resolver"
)

// resolveQueries is the queries stage: module@latest inputs are resolved
// through the mirror chain (the choice goes into the summary), and module
// versions of --from lists that no mirror has (the path prefixes a serve
// misses list holds) are left out as gaps, unless Options.Strict
// ([resolver.ResolveQueries]).
func (j *job) resolveQueries(ctx context.Context) (err error) {
	j.inputs, j.choices, j.inputGaps, err = resolver.ResolveQueries(ctx, j.mirrors, j.inputs, j.opts.Strict)
	if err != nil {
		return err
	}
	for _, g := range j.inputGaps {
		j.emit(Event{Stage: "warning", Item: "--from: " + g.String()})
	}
	if len(j.inputs) == 0 {
		return UsageError{errors.New("create: no inputs left: no mirror has any module version the --from lists name")}
	}
	return nil
}
