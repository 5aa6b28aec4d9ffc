package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// parseWithConfig parses args and then the file named by --config: one
// `flag = value` per line (the flag's name without dashes; # starts a
// comment line; a repeatable flag may appear on several lines). A flag
// given on the command line wins over the file, so a unit file or a
// ConfigMap holds the settings and a command line the exceptions. Limits,
// timeouts and addresses go here; secrets have their own files and
// variables.
func parseWithConfig(fs *flag.FlagSet, args []string) error {
	path := fs.String("config", "", "`file` of settings, one `flag = value` per line (# comments); flags on the command line win")
	if err := fs.Parse(args); err != nil {
		return errUsage // the flag package has said what
	}
	if *path == "" {
		return nil
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			errs = append(errs, fmt.Errorf("%s:%d: want `flag = value`, got %q", *path, n, line))
			continue
		}
		f := fs.Lookup(strings.TrimLeft(name, "-"))
		switch {
		case f == nil:
			errs = append(errs, fmt.Errorf("%s:%d: no flag %q (see %s -h)", *path, n, name, fs.Name()))
		case f.Name == "config":
			errs = append(errs, fmt.Errorf("%s:%d: a config file cannot name another", *path, n))
		case given[f.Name]:
			// The command line wins.
		default:
			if err := fs.Set(f.Name, unquote(value)); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", *path, n, f.Name, err))
			}
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// unquote strips one pair of matching quotes, so a value may keep
// leading or trailing spaces or a #.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
