// Package applog is an append-only file of keyed records, for caches that
// hold thousands of small files: one append each instead of a file created
// and renamed each, which cost a create more system time than anything else
// it did with the disk.
//
// # Format
//
// A log is a sequence of records:
//
//	"GBL1"  magic
//	uint32  body length, little-endian
//	uint32  CRC-32C of the body, little-endian
//	body    uvarint key length, key, value
//
// Each record is written with one write to a file opened for appending, so
// the records of processes sharing a log do not interleave. A damaged
// record (a crash mid-write, a bad disk block) fails its CRC and is skipped:
// reading resumes at the next magic. A later record for the same key
// replaces an earlier one.
package applog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"sync"
)

const magic = "GBL1"

const headerLen = len(magic) + 8

// maxBody bounds a record's body; a longer length field is damage.
const maxBody = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Read returns the records of the log file name, later records replacing
// earlier ones with the same key. A missing file is an empty log.
func Read(name string) (map[string][]byte, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(data), nil
}

// Parse returns the records of a log's content (see Read). The values
// share data's memory.
func Parse(data []byte) map[string][]byte {
	out := map[string][]byte{}
	for len(data) > 0 {
		key, val, n, ok := record(data)
		if !ok {
			// Damage: resume at the next magic.
			i := bytes.Index(data[1:], []byte(magic))
			if i < 0 {
				break
			}
			data = data[1+i:]
			continue
		}
		out[key] = val
		data = data[n:]
	}
	return out
}

// record decodes the record at the start of data.
func record(data []byte) (key string, val []byte, n int, ok bool) {
	if len(data) < headerLen || string(data[:len(magic)]) != magic {
		return "", nil, 0, false
	}
	size := binary.LittleEndian.Uint32(data[4:])
	sum := binary.LittleEndian.Uint32(data[8:])
	if size > maxBody || uint64(len(data)-headerLen) < uint64(size) {
		return "", nil, 0, false
	}
	body := data[headerLen : headerLen+int(size)]
	if crc32.Checksum(body, castagnoli) != sum {
		return "", nil, 0, false
	}
	klen, m := binary.Uvarint(body)
	if m <= 0 || klen > uint64(len(body)-m) {
		return "", nil, 0, false
	}
	key = string(body[m : m+int(klen)])
	return key, body[m+int(klen):], headerLen + int(size), true
}

// Encode returns the record for key and val.
func Encode(key string, val []byte) []byte {
	body := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(key)+len(val)), uint64(len(key)))
	body = append(body, key...)
	body = append(body, val...)
	rec := make([]byte, headerLen, headerLen+len(body))
	copy(rec, magic)
	binary.LittleEndian.PutUint32(rec[4:], uint32(len(body)))
	binary.LittleEndian.PutUint32(rec[8:], crc32.Checksum(body, castagnoli))
	return append(rec, body...)
}

// Writer appends records to a log; it is safe for concurrent use.
type Writer struct {
	name string
	mu   sync.Mutex
	f    *os.File
}

// NewWriter returns a writer for the log file name, opened on first use.
func NewWriter(name string) *Writer {
	return &Writer{name: name}
}

// Append adds a record.
func (w *Writer) Append(key string, val []byte) error {
	if len(key)+len(val)+binary.MaxVarintLen64 > maxBody {
		return errors.New("applog: record too large")
	}
	rec := Encode(key, val)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		f, err := os.OpenFile(w.name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
		if err != nil {
			return err
		}
		w.f = f
	}
	_, err := w.f.Write(rec)
	return err
}

// Close closes the file, if it was opened.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
