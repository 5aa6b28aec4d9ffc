package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "streamgate "},
		{name: "version takes no arguments", args: []string{"version", "x"}, wantCode: 2, wantStderr: "usage: streamgate version"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantStderr: `unknown command "frobnicate"`},
		{name: "no command", args: nil, wantCode: 2, wantStdout: "usage: streamgate"},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "version"},
		{name: "serve lists the replicas flag", args: []string{"serve", "-h"}, wantCode: 2, wantStderr: "-nats-replicas"},
		{name: "serve refuses 0 replicas", args: []string{"serve", "--nats-replicas", "0", "gateway"}, wantCode: 2, wantStderr: "--nats-replicas 0: want 1 to 5"},
		{name: "serve refuses 7 replicas", args: []string{"serve", "--nats-replicas", "7", "gateway"}, wantCode: 2, wantStderr: "--nats-replicas 7"},
		{name: "serve refuses a cleartext mesh it was not asked for", args: []string{"serve", "--mesh-tls-dir", "", "gateway"}, wantCode: 2, wantStderr: "no --mesh-tls-dir"},
		{name: "serve refuses TLS and --insecure-mesh at once", args: []string{"serve", "--mesh-tls-dir", "x", "--insecure-mesh", "gateway"}, wantCode: 2, wantStderr: "exclude each other"},
		{name: "serve --check accepts a pod's flags", args: []string{"serve", "--check", "--mesh-tls-dir", "/etc/streamgate/tls", "--kek-file", "/etc/streamgate/kek/kek", "--listen-host", "0.0.0.0", "auth"}, wantCode: 0},
		{name: "serve --check refuses an unknown flag", args: []string{"serve", "--check", "--insecure-mesh", "--databse-url", "x", "metadata"}, wantCode: 2, wantStderr: "not defined: -databse-url"},
		{name: "serve --check refuses an unknown service", args: []string{"serve", "--check", "--insecure-mesh", "metadta"}, wantCode: 1, wantStderr: `unknown service "metadta"`},
		{name: "serve --check refuses auth without a KEK", args: []string{"serve", "--check", "--insecure-mesh", "auth"}, wantCode: 1, wantStderr: "key-encryption key"},
		{name: "serve refuses dev mode on a public gateway address", args: []string{"serve", "--check", "--insecure-mesh", "--dev-mode", "--http-addr", "0.0.0.0:8080", "gateway"}, wantCode: 1, wantStderr: "loopback only"},
		{name: "embedded --check", args: []string{"embedded", "nats", "--check", "--data-dir", "/var/lib/nats"}, wantCode: 0},
		{name: "certs without a subcommand", args: []string{"certs"}, wantCode: 2, wantStderr: "usage: streamgate certs init"},
		{name: "certs issue needs a service", args: []string{"certs", "issue", "--ca", "x", "--out", "y"}, wantCode: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envKEK, "")
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

// A misspelt STREAMGATE_ variable in a manifest would be ignored at run
// time; --check names it.
func TestCheckRefusesUnknownEnvironment(t *testing.T) {
	t.Setenv("STREAMGATE_DATABASE_ULR", "postgres://x")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"serve", "--check", "--insecure-mesh", "metadata"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "STREAMGATE_DATABASE_ULR") {
		t.Errorf("exit %d, stderr %q; want 1 naming STREAMGATE_DATABASE_ULR", code, stderr.String())
	}
}
