package main

import (
	"flag"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/node"
	"github.com/streamgate/streamgate/services/gateway/edge"
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

// TestWalletConnectFlagAndEnvironment: the project id reaches the gateway's
// settings from the flag, else from the environment (dev shares the flag).
func TestWalletConnectFlagAndEnvironment(t *testing.T) {
	parse := func(args ...string) string {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var m meshFlags
		m.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := m.nodeConfig([]string{"gateway"}, ".streamgate")
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Settings.WalletConnectID
	}
	t.Setenv(envWCProjectID, "")
	if got := parse(); got != "" {
		t.Errorf("no flag, no environment: WalletConnectID = %q, want empty (phone wallets off)", got)
	}
	t.Setenv(envWCProjectID, "fromenv")
	if got := parse(); got != "fromenv" {
		t.Errorf("from the environment: WalletConnectID = %q, want fromenv", got)
	}
	if got := parse("--walletconnect-project-id", "fromflag"); got != "fromflag" {
		t.Errorf("the flag over the environment: WalletConnectID = %q, want fromflag", got)
	}
	if err := unknownEnv([]string{envWCProjectID + "=x"}); err != nil {
		t.Errorf("unknownEnv refuses %s: %v", envWCProjectID, err)
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

// TestEdgeFlags: the gateway's admission flags reach the node settings,
// with the edge's defaults when not given.
func TestEdgeFlags(t *testing.T) {
	parse := func(args ...string) (node.Settings, error) {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var m meshFlags
		m.register(fs)
		if err := fs.Parse(args); err != nil {
			return node.Settings{}, err
		}
		cfg, err := m.nodeConfig([]string{"gateway"}, ".streamgate")
		return cfg.Settings, err
	}
	s, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientRateLimit != edge.DefaultPerIP || s.MaxConcurrent != edge.DefaultMaxConcurrent ||
		s.MaxConcurrentPerClient != edge.DefaultMaxConcurrentPerClient || len(s.TrustedProxies) != 0 {
		t.Errorf("defaults: %+v %d %d %v; want 50/s burst 200, the edge's caps and no trusted proxy",
			s.ClientRateLimit, s.MaxConcurrent, s.MaxConcurrentPerClient, s.TrustedProxies)
	}
	s, err = parse("--rate-limit", "5", "--rate-burst", "10", "--max-concurrent", "100", "--max-concurrent-per-client", "4",
		"--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "192.168.1.7", "--trusted-proxy", "fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8")}
	if s.ClientRateLimit != (edge.RateLimit{Rate: 5, Burst: 10}) || s.MaxConcurrent != 100 || s.MaxConcurrentPerClient != 4 || !slices.Equal(s.TrustedProxies, want) {
		t.Errorf("flags: %+v %d %d %v", s.ClientRateLimit, s.MaxConcurrent, s.MaxConcurrentPerClient, s.TrustedProxies)
	}
	if s, err := parse("--rate-limit", "-1"); err != nil || s.ClientRateLimit.Rate >= 0 {
		t.Errorf("--rate-limit -1: %v %+v, want no limit", err, s.ClientRateLimit)
	}
	for _, bad := range [][]string{{"--rate-limit", "0"}, {"--rate-burst", "0"}, {"--trusted-proxy", "not-a-cidr"}, {"--trusted-proxy", "10.0.0.0/33"}} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
