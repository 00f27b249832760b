package bundle

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Magic opens every bundle file; FormatVersion follows it. A reader refuses
// a version it does not know.
const (
	Magic         = "GOBUNDLE"
	FormatVersion = 1
)

// ErrUnsupported is wrapped by the error for a bundle written in a format
// version this reader does not know.
var ErrUnsupported = errors.New("unsupported bundle format")

// ErrCorrupt is wrapped by every error caused by bytes in a bundle that do
// not match their recorded checksums or do not decode.
var ErrCorrupt = errors.New("bundle corrupt")

// FileKind names one of the three files of a module version.
type FileKind uint8

// The files of a module version, as the GOPROXY protocol names them.
const (
	KindInfo FileKind = iota + 1
	KindMod
	KindZip
)

// String returns the file's extension without the dot: "info", "mod", "zip".
func (k FileKind) String() string {
	switch k {
	case KindInfo:
		return "info"
	case KindMod:
		return "mod"
	case KindZip:
		return "zip"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseFileKind maps "info", "mod" and "zip" to their kinds.
func ParseFileKind(s string) (FileKind, bool) {
	switch s {
	case "info":
		return KindInfo, true
	case "mod":
		return KindMod, true
	case "zip":
		return KindZip, true
	}
	return 0, false
}

// Sum is a sha256 digest.
type Sum [32]byte

// String returns the digest in lower-case hex.
func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// FileInfo describes one file as a reader returns it.
type FileInfo struct {
	Size   int64
	SHA256 Sum    // of the exact bytes a reader returns
	Origin string // the mirror that served it on the connected side, "" if unknown
}

// Module is the index entry of one module version.
type Module struct {
	Path    string
	Version string

	// Info, Mod and Zip are nil when the bundle does not hold that file.
	// Zip is the zip as served ([Reader.WriteZip]): deflated when the
	// bundle records that form, else stored, or the original bytes.
	Info *FileInfo
	Mod  *FileInfo
	Zip  *FileInfo

	// ModHash and ZipHash are the go.sum hashes ("h1:..."): ModHash of the
	// go.mod file (the "/go.mod" line), ZipHash of the zip's content.
	ModHash string
	ZipHash string

	// ZipFiles is the number of files in the zip; ZipRaw reports that the
	// original zip bytes are stored as they came rather than rebuilt from
	// deduplicated files.
	ZipFiles int
	ZipRaw   bool
	// ZipStored is the rebuilt zip with stored entries when Zip is the
	// deflated form ([Reader.OpenFile] reads it), else nil.
	ZipStored *FileInfo
	// ZipMirrorSize is the size of the zip as the mirror sent it, 0 when
	// the bundle does not record it (bundles written before it did).
	ZipMirrorSize int64
}

// Extra is a blob of a kind other than module files: checksum database
// tiles and lookups, signatures, and whatever later versions add. A reader
// lists kinds it does not understand without failing.
type Extra struct {
	Kind   string // e.g. "sumdb"
	Name   string // e.g. "sum.golang.org/tile/8/0/001"
	Size   int64
	SHA256 Sum
	Origin string
}

// Meta is the bundle's descriptive metadata.
type Meta struct {
	Tool    string    // tool and version that wrote the bundle
	Created time.Time // from SOURCE_DATE_EPOCH or fixed, never the wall clock by default
	Inputs  []string  // what the bundle was made from (projects, directories)
	Mirrors []string  // the mirror chain used, credentials removed
	// Properties holds further key/value pairs, sorted by key; later
	// features add keys without a format change.
	Properties []Property
}

// Property is one metadata key/value pair.
type Property struct{ Key, Value string }

// Stats are figures about a bundle's storage.
type Stats struct {
	FileSize     int64 // size of the bundle file
	IndexSize    int64 // compressed index bytes
	IndexRawSize int64 // uncompressed index bytes
	Frames       int   // zstd frames in the data section
	Blobs        int   // unique blobs stored
	BlobBytes    int64 // uncompressed bytes of unique blobs
	// Bases, BaseBlobs and BaseBlobBytes describe an incremental bundle:
	// the base bundles it needs and the content of theirs it refers to
	// instead of storing it.
	Bases           int
	BaseBlobs       int
	BaseBlobBytes   int64
	CompressedBytes int64 // bytes of all data frames
	// LogicalBytes is what the module files (info, mod, rebuilt zips'
	// contents) and extras add up to before deduplication.
	LogicalBytes int64
	// ZipBytes is the size of all zips as served (deflated where the
	// bundle records that form), ZipStoredBytes that of their rebuilt
	// stored form, and ZipMirrorBytes what the mirror sent for the
	// ZipsMirrorKnown zips whose mirror size the bundle records.
	ZipBytes        int64
	ZipStoredBytes  int64
	ZipMirrorBytes  int64
	ZipsMirrorKnown int
	ZipsDeflated    int // zips served deflated
	ZipsRaw         int // zips served as the mirror sent them
	Modules         int // module versions
	Zips            int
	Extras          int
}

// Event reports progress of long operations. Only the command line draws it.
type Event struct {
	Phase string // "read", "compress", "verify", "unpack"
	Item  string // what is being worked on, may be empty
	Done  int64
	Total int64 // 0 if unknown
}

// Problem is one failed check found by Verify.
type Problem struct {
	Entry string // the bundle entry: "module@version zip", "index", "frame 12", ...
	Err   error
}

func (p Problem) Error() string { return p.Entry + ": " + p.Err.Error() }
