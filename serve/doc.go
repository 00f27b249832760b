// Package serve owns the disconnected side: a read-only GOPROXY (and checksum
// database) over one or many opened bundles.
package serve
