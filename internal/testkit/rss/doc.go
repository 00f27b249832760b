// Package rss measures a process's peak resident memory for tests that
// hold code to a memory ceiling (Linux only: /proc/self).
package rss
