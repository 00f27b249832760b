package resolver

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// netrcEntry is one complete "machine" entry of a .netrc file.
type netrcEntry struct {
	machine, login, password string
}

// readNetrc reads the .netrc file at file; a missing file has no entries.
func readNetrc(ctx context.Context, file string) ([]netrcEntry, error) {
	if file == "" {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading netrc: %w", err)
	}
	return parseNetrc(string(data)), nil
}

// parseNetrc parses .netrc content the way the go command does: entries need
// machine, login and password; macdef bodies are skipped; "default" ends the
// file (the go command never uses it).
func parseNetrc(data string) []netrcEntry {
	var list []netrcEntry
	var e netrcEntry
	inMacro := false
	for line := range strings.SplitSeq(data, "\n") {
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		f := strings.Fields(line)
		i := 0
		for ; i < len(f)-1; i += 2 {
			switch f[i] {
			case "machine":
				e = netrcEntry{machine: f[i+1]}
			case "login":
				e.login = f[i+1]
			case "password":
				e.password = f[i+1]
			case "macdef":
				inMacro = true
			}
			if e.machine != "" && e.login != "" && e.password != "" {
				list = append(list, e)
				e = netrcEntry{}
			}
		}
		if i < len(f) && f[i] == "default" || len(f) > 0 && f[0] == "default" {
			break
		}
	}
	return list
}
