package bundle

import (
	"fmt"
	"os"
	"sync"
)

// spoolBuffer is how much appended content a spool keeps in memory before
// writing it out: a module zip holds thousands of small files, and one
// write call each made the spool a visible part of a create's CPU time.
const spoolBuffer = 4 << 20

// spool is an append-only temporary file with a write buffer. Append and
// ReadAt are safe for concurrent use; ReadAt sees everything appended.
type spool struct {
	mu      sync.Mutex
	f       *os.File
	buf     []byte
	flushed int64 // bytes in f; buf holds the bytes after them
}

func newSpool(dir, pattern string) (*spool, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &spool{f: f}, nil
}

// Append adds data at the end and returns its offset.
func (s *spool) Append(data []byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	off := s.flushed + int64(len(s.buf))
	if len(s.buf)+len(data) > spoolBuffer {
		if err := s.flushLocked(); err != nil {
			return 0, err
		}
		if len(data) >= spoolBuffer {
			if _, err := s.f.WriteAt(data, s.flushed); err != nil {
				return 0, fmt.Errorf("writing spool: %w", err)
			}
			s.flushed += int64(len(data))
			return off, nil
		}
	}
	if s.buf == nil {
		s.buf = make([]byte, 0, spoolBuffer)
	}
	s.buf = append(s.buf, data...)
	return off, nil
}

// Size returns the number of bytes appended.
func (s *spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushed + int64(len(s.buf))
}

func (s *spool) flushLocked() error {
	if len(s.buf) == 0 {
		return nil
	}
	if _, err := s.f.WriteAt(s.buf, s.flushed); err != nil {
		return fmt.Errorf("writing spool: %w", err)
	}
	s.flushed += int64(len(s.buf))
	s.buf = s.buf[:0]
	return nil
}

// ReadAt reads len(p) bytes at off, which must have been appended.
func (s *spool) ReadAt(p []byte, off int64) error {
	s.mu.Lock()
	if off+int64(len(p)) > s.flushed {
		if off >= s.flushed {
			// Entirely in the buffer: copy without writing it out.
			if off+int64(len(p)) > s.flushed+int64(len(s.buf)) {
				s.mu.Unlock()
				return fmt.Errorf("reading spool: %d bytes at %d: beyond its end", len(p), off)
			}
			copy(p, s.buf[off-s.flushed:])
			s.mu.Unlock()
			return nil
		}
		if err := s.flushLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Unlock()
	if _, err := s.f.ReadAt(p, off); err != nil {
		return fmt.Errorf("reading spool: %w", err)
	}
	return nil
}

// Close closes and removes the file.
func (s *spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.f.Name()
	s.f.Close()
	return os.Remove(name)
}
