package sumdbstore

// Summary describes a bundle's checksum database data: the "sumdb" object
// of `gobundle inspect --json`, read back by the bench.
type Summary struct {
	Name        string  `json:"name"`
	Key         string  `json:"key"`
	Tree        int64   `json:"tree"`
	Records     int     `json:"records"`
	Proven      int     `json:"proven"`
	Tiles       int     `json:"tiles"`
	TileBytes   int64   `json:"tile_bytes"`
	RecordBytes int64   `json:"record_bytes"`
	HeadBytes   int64   `json:"head_bytes"`
	Bytes       int64   `json:"bytes"` // all checksum database entries, uncompressed
	OlderTrees  []int64 `json:"older_trees"`
	Error       string  `json:"error,omitempty"`
}
