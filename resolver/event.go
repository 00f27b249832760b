package resolver

// Event is progress flowing out of the resolver; only cmd/gobundle draws it.
//
// The fetch layer ([Mirrors]) sends:
//
//   - Phase "download" once per file fetched over the network (or through the
//     go command for "direct"), with Item "module@version kind", Bytes the
//     file size, Done and Total zero;
//   - Phase "bytes" while a large download is in flight (at most one per MiB
//     read), with Item as above, Done the bytes read so far and Total the
//     Content-Length (0 if unknown).
//
// Cache hits send no event. The callback is never called concurrently.
type Event struct {
	Phase       string // "resolve", "download", "verify", "bytes"
	Item        string // e.g. "golang.org/x/mod@v0.42.0 zip"
	Done, Total int64  // counts (or bytes for Phase "bytes"); Total 0 if unknown
	Bytes       int64  // bytes fetched by this event, if any
}

// FetchStats counts the work done by a [Mirrors] since it was created.
type FetchStats struct {
	Requests  int64 // HTTP requests and file:// reads, retries included
	Bytes     int64 // bytes of files fetched (not from the cache)
	CacheHits int64 // files served from the download cache
	Retries   int64 // requests repeated after a transient failure
	Direct    int64 // go command runs for "direct"
}
