// Command reliability sums the counts the reliability tests of issue 20
// append (package internal/testkit/tally) into the table make reliability
// prints and keeps in docs/RELIABILITY.md.
//
//	go run ./internal/reliability -in counts.jsonl [-md docs/RELIABILITY.md]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gobundle/gobundle/internal/testkit/tally"
)

var columns = []string{tally.Inputs, tally.Faults, tally.Requests, tally.Errors, tally.Unexpected, tally.Lost, tally.Wrong}

var titles = map[string]string{
	tally.Inputs: "inputs tried", tally.Faults: "faults injected", tally.Requests: "requests served",
	tally.Errors: "clean errors", tally.Unexpected: "unexpected errors", tally.Lost: "bytes lost", tally.Wrong: "wrong bytes",
}

func main() {
	in := flag.String("in", "", "file of counts (JSON lines)")
	md := flag.String("md", "", "also write the table into this Markdown file, between its table markers")
	flag.Parse()
	rows, err := read(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
	table := render(rows)
	fmt.Print(table)
	if *md != "" {
		if err := splice(*md, table); err != nil {
			fmt.Fprintln(os.Stderr, "reliability:", err)
			os.Exit(1)
		}
	}
	for _, c := range []string{tally.Unexpected, tally.Lost, tally.Wrong} {
		if total(rows, c) != 0 {
			fmt.Fprintf(os.Stderr, "reliability: %d %s\n", total(rows, c), titles[c])
			os.Exit(1)
		}
	}
}

// read sums the counts of file by top-level test.
func read(file string) (map[string]map[string]int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows := map[string]map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l tally.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		test, _, _ := strings.Cut(l.Test, "/")
		if rows[test] == nil {
			rows[test] = map[string]int64{}
		}
		rows[test][l.Counter] += l.N
	}
	return rows, sc.Err()
}

func total(rows map[string]map[string]int64, c string) int64 {
	var n int64
	for _, r := range rows {
		n += r[c]
	}
	return n
}

// render formats rows as a Markdown table with a total line.
func render(rows map[string]map[string]int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| test |")
	for _, c := range columns {
		fmt.Fprintf(&b, " %s |", titles[c])
	}
	fmt.Fprintf(&b, "\n|---|%s\n", strings.Repeat("---:|", len(columns)))
	var names []string
	for n := range rows {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "| %s |", n)
		for _, c := range columns {
			fmt.Fprintf(&b, " %d |", rows[n][c])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "| **total** |")
	for _, c := range columns {
		fmt.Fprintf(&b, " **%d** |", total(rows, c))
	}
	fmt.Fprintf(&b, "\n\nRun %s.\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	return b.String()
}

const begin, end = "<!-- reliability table: make reliability writes below -->\n", "<!-- end of table -->\n"

// splice replaces the table between the markers of the Markdown file md.
func splice(md, table string) error {
	data, err := os.ReadFile(md)
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no table markers", md)
	}
	s = s[:i+len(begin)] + table + s[j:]
	return writeFile(md, s)
}

func writeFile(name, s string) error {
	f, err := os.CreateTemp(".", ".reliability*")
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, s); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	f.Close()
	os.Chmod(f.Name(), 0o644)
	return os.Rename(f.Name(), name)
}
