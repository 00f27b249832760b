// Package resolver owns the connected side: the GOPROXY mirror chain, the walk
// of the full module graph, fetching .info/.mod/.zip files, and checking them
// against go.sum and the checksum database. It never imports package bundle.
package resolver
