package main

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gobundle/gobundle/internal/sbom/schematest"
)

// signCommands are the script commands of the signing and SBOM tests
// (issue 17). siggraft and flipbyte change bundle files the way an
// attacker with the file in hand would, without the bundle package.
func signCommands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"filemode":  cmdFileMode,
		"flipbyte":  cmdFlipByte,
		"siggraft":  cmdSigGraft,
		"cyclonedx": cmdCycloneDX,
	}
}

// cmdFileMode: filemode FILE MODE checks FILE's permission bits (octal).
func cmdFileMode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: filemode FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := st.Mode().Perm(); uint64(got) != want {
		ts.Fatalf("%s: mode %04o, want %04o", args[0], got, want)
	}
}

// cmdFlipByte: flipbyte FILE OFFSET flips one bit of the byte at OFFSET.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	name := ts.MkAbs(args[0])
	data, err := os.ReadFile(name)
	ts.Check(err)
	if off < 0 || off >= len(data) {
		ts.Fatalf("flipbyte: offset %d out of %d bytes", off, len(data))
	}
	data[off] ^= 0x01
	ts.Check(os.WriteFile(name, data, 0o644))
}

// cmdSigGraft: siggraft FROM TO puts the signature block of bundle FROM
// on the unsigned bundle TO, as docs/FORMAT.md lays both out, fixing TO's
// trailer (and its CRC) so that TO opens: an attacker who changed a
// bundle, recomputed every checksum, and kept the old signatures.
func cmdSigGraft(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: siggraft FROM TO")
	}
	from, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	to, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	ftr := from[len(from)-88:]
	sigOff, sigLen := binary.LittleEndian.Uint64(ftr[56:]), binary.LittleEndian.Uint64(ftr[64:])
	if sigLen == 0 {
		ts.Fatalf("siggraft: %s is not signed", args[0])
	}
	block := from[sigOff : sigOff+sigLen]
	tr := append([]byte(nil), to[len(to)-88:]...)
	if binary.LittleEndian.Uint64(tr[64:]) != 0 {
		ts.Fatalf("siggraft: %s is signed already", args[1])
	}
	body := to[:len(to)-88]
	binary.LittleEndian.PutUint64(tr[56:], uint64(len(body)))
	binary.LittleEndian.PutUint64(tr[64:], sigLen)
	binary.LittleEndian.PutUint32(tr[76:], crc32c(append(append([]byte(nil), to[:16]...), tr[:76]...)))
	out := append(append(append([]byte(nil), body...), block...), tr...)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out, 0o644))
}

// cmdCycloneDX: cyclonedx FILE validates FILE against the CycloneDX JSON
// schema kept in internal/sbom/schematest/testdata.
func cmdCycloneDX(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: [!] cyclonedx FILE")
	}
	err := schematest.Validate([]byte(ts.ReadFile(args[0])))
	switch {
	case err != nil && !neg:
		ts.Fatalf("%s is not valid CycloneDX: %v", args[0], err)
	case err == nil && neg:
		ts.Fatalf("%s is valid CycloneDX", args[0])
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }
