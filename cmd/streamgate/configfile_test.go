package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func configFlags() (*flag.FlagSet, *float64, *int, *chainFlag) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rate := fs.Float64("play-rate-limit", 20, "")
	burst := fs.Int("play-rate-burst", 100, "")
	chains := &chainFlag{}
	fs.Var(chains, "chain", "")
	return fs, rate, burst, chains
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "streamgate.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileSetsFlagsCommandLineWins(t *testing.T) {
	path := writeConfig(t, `
# limits sized for a campus behind one NAT
play-rate-limit = 40
--play-rate-burst = "250"
chain = 1=https://a.example
chain = 137=https://b.example
`)
	fs, rate, burst, chains := configFlags()
	if err := parseWithConfig(fs, []string{"--config", path, "--play-rate-limit", "60", "gateway"}); err != nil {
		t.Fatal(err)
	}
	if *rate != 60 || *burst != 250 {
		t.Errorf("rate %v burst %d, want 60 (command line) and 250 (file)", *rate, *burst)
	}
	if len(*chains) != 2 || (*chains)[1] == "" || (*chains)[137] == "" {
		t.Errorf("chains %v, want 1 and 137 from the file's two lines", *chains)
	}
	if !slices.Equal(fs.Args(), []string{"gateway"}) {
		t.Errorf("positional args %q", fs.Args())
	}
}

func TestConfigFileRefusesWhatItCannotApply(t *testing.T) {
	for name, c := range map[string]struct{ text, want string }{
		"unknown flag":  {"play-rate-limt = 5\n", `:1: no flag "play-rate-limt"`},
		"bad value":     {"# c\nplay-rate-burst = many\n", ":2: play-rate-burst"},
		"no equals":     {"play-rate-burst 5\n", ":1: want `flag = value`"},
		"nested config": {"config = other.conf\n", "cannot name another"},
	} {
		t.Run(name, func(t *testing.T) {
			fs, _, _, _ := configFlags()
			err := parseWithConfig(fs, []string{"--config=" + writeConfig(t, c.text)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	fs, _, _, _ := configFlags()
	if err := parseWithConfig(fs, []string{"--config", filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("a missing config file was accepted")
	}
}
