package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/gobundle/gobundle/resolver"
)

// readInputs parses the inputs given as args and those listed in the files
// from (with "." when there are neither); GOWORK is gowork. Every error is
// a [UsageError].
func readInputs(ctx context.Context, args, from []string, gowork string) ([]resolver.Input, error) {
	var inputs []resolver.Input
	if len(args) == 0 && len(from) == 0 {
		args = []string{"."}
	}
	ip := resolver.InputParser{GoWork: gowork}
	for _, a := range args {
		in, err := ip.Parse(a, "")
		if err != nil {
			return nil, UsageError{err}
		}
		inputs = append(inputs, in)
	}
	for _, f := range from {
		ins, err := ip.ReadList(ctx, f)
		if err != nil {
			return nil, UsageError{fmt.Errorf("--from: %w", err)}
		}
		inputs = append(inputs, ins...)
	}
	if len(inputs) == 0 {
		return nil, UsageError{errors.New("create: no inputs")}
	}
	return inputs, nil
}
