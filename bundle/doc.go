// Package bundle owns the gobundle file format: writing a bundle, reading it
// with random access, its index, and verifying it.
//
// A bundle is one file holding the module versions (.info, .mod, .zip) that a
// set of Go projects needs, plus other blobs later features add (checksum
// database tiles and lookups, signatures). Content is deduplicated by sha256
// down to the files inside module zips, compressed with zstd in independent
// frames, and described by an index at the end of the file. Module zips are
// rebuilt from their files when read, with exactly the h1: hash of the
// original. See docs/FORMAT.md for the byte layout.
//
// The package does no network I/O.
package bundle
