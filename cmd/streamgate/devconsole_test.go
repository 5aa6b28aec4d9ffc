package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dev's console keeps to warnings (the summary and event lines are
// printed apart); the file gets everything; -v puts everything on the
// console too.
func TestDevLoggerKeepsTheConsoleCalm(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		var console bytes.Buffer
		file := filepath.Join(t.TempDir(), "logs", "dev.log")
		m := meshFlags{logLevel: slog.LevelInfo}
		logger, closeLog, err := devLogger(&m, &console, file, verbose)
		if err != nil {
			t.Fatal(err)
		}
		logger.Info("instance health changed")
		logger.Warn("chain unreachable")
		closeLog()
		logged, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(logged), "instance health changed") || !strings.Contains(string(logged), "chain unreachable") {
			t.Errorf("verbose=%v: the log file lacks a line:\n%s", verbose, logged)
		}
		if !strings.Contains(console.String(), "chain unreachable") {
			t.Errorf("verbose=%v: a warning did not reach the console:\n%s", verbose, console.String())
		}
		if got := strings.Contains(console.String(), "instance health changed"); got != verbose {
			t.Errorf("verbose=%v: INFO on the console = %v:\n%s", verbose, got, console.String())
		}
	}
}
