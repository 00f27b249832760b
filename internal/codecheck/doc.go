// Package codecheck holds the tests of the source tree's own rules from
// the developers' guide: a function that does several things reads as its
// named steps, so no function in the checked packages (every package but
// the bench, the checksum database store and the test kit, which are not
// held yet) is over 100 lines. It has no code of its own to import.
package codecheck
