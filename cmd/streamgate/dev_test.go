package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// TestDevRefusesPublicBind: dev accepts the dev identity header, so it
// refuses to listen beyond loopback unless told --insecure-public-dev,
// and refuses before it starts anything.
func TestDevRefusesPublicBind(t *testing.T) {
	for _, args := range [][]string{
		{"--http-addr", "0.0.0.0:8080"},
		{"--http-addr", ":8080"},
		{"--http-addr", "192.0.2.10:8080"},
		{"--listen-host", "0.0.0.0"},
		{"--listen-host", "::"},
		{"--addr", "metadata=10.0.0.5:9000"},
		{"--etcd-addr", "0.0.0.0:2379"},
	} {
		dir := t.TempDir()
		err := runDev(t.Context(), append(args, "--data-dir", dir, "--no-seed"), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--insecure-public-dev") || !strings.Contains(err.Error(), "loopback only") {
			t.Errorf("dev %v: %v, want a refusal naming loopback and --insecure-public-dev", args, err)
		}
	}
	check := func(insecure bool, args ...string) error {
		t.Helper()
		fs := flag.NewFlagSet("dev", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var m meshFlags
		m.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return devBindCheck(&m, "127.0.0.1:0", insecure)
	}
	if err := check(false); err != nil {
		t.Errorf("dev's defaults (loopback): %v", err)
	}
	if err := check(false, "--http-addr", "localhost:8080", "--listen-host", "::1"); err != nil {
		t.Errorf("loopback by name and IPv6: %v", err)
	}
	if err := check(true, "--http-addr", "0.0.0.0:8080", "--listen-host", "0.0.0.0"); err != nil {
		t.Errorf("--insecure-public-dev: %v, want the public bind allowed", err)
	}
}
