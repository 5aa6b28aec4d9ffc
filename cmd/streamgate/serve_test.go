package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestBlobURLFlagAndEnvironment(t *testing.T) {
	parse := func(args ...string) string {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var m meshFlags
		m.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := m.nodeConfig([]string{"streaming"}, ".streamgate")
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Settings.BlobURL
	}
	t.Setenv("STREAMGATE_BLOB_URL", "")
	if got := parse(); got != "" {
		t.Errorf("no flag, no environment: BlobURL = %q, want empty (the data dir's media/)", got)
	}
	t.Setenv("STREAMGATE_BLOB_URL", "s3://from-env")
	if got := parse(); got != "s3://from-env" {
		t.Errorf("from the environment: BlobURL = %q, want s3://from-env", got)
	}
	if got := parse("--blob-url", "s3://from-flag/p?region=eu-west-1"); got != "s3://from-flag/p?region=eu-west-1" {
		t.Errorf("the flag over the environment: BlobURL = %q", got)
	}
}

func TestDevModeOnLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		host  string
		addrs map[string]string
		ok    bool
	}{
		{"127.0.0.1", map[string]string{"gateway": "127.0.0.1:8080"}, true},
		{"::1", map[string]string{"gateway": "[::1]:8080"}, true},
		{"localhost", map[string]string{"gateway": "localhost:8080"}, true},
		{"0.0.0.0", map[string]string{"gateway": "127.0.0.1:8080"}, false},
		{"127.0.0.1", map[string]string{"gateway": "0.0.0.0:8080"}, false},
		{"127.0.0.1", map[string]string{"gateway": ":8080"}, false},
		{"127.0.0.1", map[string]string{"metadata": "10.0.0.5:9000"}, false},
	} {
		err := loopbackOnly(tc.host, tc.addrs)
		if (err == nil) != tc.ok {
			t.Errorf("loopbackOnly(%q, %v) = %v, want ok=%v", tc.host, tc.addrs, err, tc.ok)
		}
	}
	var stderr strings.Builder
	err := runServe(t.Context(), []string{"--insecure-mesh", "--dev-mode", "--http-addr", "0.0.0.0:8080", "gateway"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Errorf("serve --dev-mode on 0.0.0.0: %v, want a refusal naming loopback", err)
	}
}
