package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gobundle/gobundle/bundle"
)

// baseFlag is the --base flag of the commands that read an incremental
// bundle (verify, unpack, diff, inspect).
type baseFlag struct {
	Base []string `name:"base" placeholder:"FILE" type:"existingfile" help:"A base bundle an incremental bundle needs (repeatable; the bases of bases too). Example: --base week1.gobundle --base week2.gobundle."`
}

// chain is a bundle opened with the base bundles it needs, linked.
type chain struct {
	top   *bundle.Reader
	bases []*bundle.Reader // as given
}

// all returns the top bundle, then its bases.
func (c *chain) all() []*bundle.Reader { return append([]*bundle.Reader{c.top}, c.bases...) }

func (c *chain) Close() {
	for _, r := range c.all() {
		r.Close()
	}
}

// openChain opens file and the bundles bases names and links every
// incremental one among them. With link, a base that is missing is an
// error naming its digest; without, the top bundle may stay unlinked
// (verify and inspect of a delta alone).
func openChain(ctx context.Context, file string, bases []string, link bool) (*chain, error) {
	r, err := openBundle(ctx, file)
	if err != nil {
		return nil, err
	}
	c := &chain{top: r}
	for _, b := range bases {
		br, err := openBundle(ctx, b)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.bases = append(c.bases, br)
	}
	if err := linkAll(c.all(), link); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// linkAll links every incremental bundle of rs to its bases among rs.
// With strict, a bundle whose bases are not all there is an error naming
// the missing digest; without, such a bundle stays unlinked.
func linkAll(rs []*bundle.Reader, strict bool) error {
	if !strict {
		for _, r := range rs {
			r.Link(rs)
		}
		return nil
	}
	return missingBaseHint(bundle.LinkAll(rs))
}

// missingBaseHint adds what to do to a missing base error.
func missingBaseHint(err error) error {
	var mb *bundle.MissingBaseError
	if errors.As(err, &mb) {
		return fmt.Errorf("%w: give that bundle with --base FILE (inspect prints a bundle's digest)", err)
	}
	return err
}

// openBases opens the bundles names, linked among themselves (an
// incremental one needs its own bases among them): pack's --base, merge's
// and diff's bundles.
func openBases(e *env, names []string) ([]*bundle.Reader, error) {
	var rs []*bundle.Reader
	for _, name := range names {
		r, err := openBundle(e.ctx, name)
		if err != nil {
			closeAll(rs)
			return nil, err
		}
		rs = append(rs, r)
	}
	if err := linkAll(rs, true); err != nil {
		closeAll(rs)
		return nil, err
	}
	return rs, nil
}

func closeAll(rs []*bundle.Reader) {
	for _, r := range rs {
		r.Close()
	}
}
