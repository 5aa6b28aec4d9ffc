package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/operatortokens"
	"github.com/streamgate/streamgate/internal/secretbox"
	"github.com/streamgate/streamgate/node"
)

func parseMesh(t *testing.T, args ...string) (node.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var m meshFlags
	m.register(fs)
	if err := fs.Parse(args); err != nil {
		return node.Config{}, err
	}
	return m.nodeConfig([]string{"gateway"}, t.TempDir())
}

func clearSecretEnv(t *testing.T) {
	for _, k := range []string{operatortokens.EnvToken, operatortokens.EnvTokens, envKEK} {
		t.Setenv(k, "")
	}
}

func TestOperatorTokenFlagRefused(t *testing.T) {
	clearSecretEnv(t)
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"serve", "--operator-token", "op-secret-0123456789", "gateway"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "--operator-tokens-file") || !strings.Contains(stderr.String(), operatortokens.EnvTokens) {
		t.Errorf("stderr = %q, want it to point to the file and the environment", stderr.String())
	}
}

func TestOperatorTokensFileAndEnvironment(t *testing.T) {
	clearSecretEnv(t)
	const aliceTok, ciTok = "alice-op-0123456789abcdef", "ci-op-0123456789abcdefgh"
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("# operators\nalice:"+aliceTok+"\nci:"+ciTok+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseMesh(t, "--operator-tokens-file", path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable tokens file: %v, want a refusal saying chmod 600", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseMesh(t, "--operator-tokens-file", path)
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{aliceTok: "alice", ciTok: "ci"} {
		if name, ok := cfg.Settings.OperatorTokens.Match(tok); !ok || name != want {
			t.Errorf("Match = %q, %v; want %s", name, ok, want)
		}
	}

	t.Setenv(operatortokens.EnvTokens, "alice:"+aliceTok)
	if _, err := parseMesh(t, "--operator-tokens-file", path); err == nil {
		t.Error("a tokens file and tokens in the environment were both accepted")
	}
	cfg, err = parseMesh(t)
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := cfg.Settings.OperatorTokens.Match(aliceTok); !ok || name != "alice" {
		t.Errorf("from $%s: Match = %q, %v", operatortokens.EnvTokens, name, ok)
	}

	t.Setenv(operatortokens.EnvTokens, "")
	t.Setenv(operatortokens.EnvToken, ciTok)
	cfg, err = parseMesh(t)
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := cfg.Settings.OperatorTokens.Match(ciTok); !ok || name != "default" {
		t.Errorf("from $%s: Match = %q, %v; want default", operatortokens.EnvToken, name, ok)
	}

	t.Setenv(operatortokens.EnvToken, "")
	if cfg, err = parseMesh(t); err != nil || cfg.Settings.OperatorTokens != nil {
		t.Errorf("no tokens: %v, %v; want none", cfg.Settings.OperatorTokens, err)
	}
}

func TestKEKFlagAndEnvironment(t *testing.T) {
	clearSecretEnv(t)
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, secretbox.GenerateFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o660); err != nil { // past the umask
		t.Fatal(err)
	}
	if _, err := parseMesh(t, "--kek-file", path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-writable KEK file: %v, want a refusal saying chmod 600", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseMesh(t, "--kek-file", path)
	if err != nil || cfg.Settings.KEK == nil {
		t.Fatalf("--kek-file: %v", err)
	}
	data, _ := os.ReadFile(path)
	t.Setenv(envKEK, strings.TrimSpace(string(data)))
	if _, err := parseMesh(t, "--kek-file", path); err == nil {
		t.Error("--kek-file and $STREAMGATE_KEK were both accepted")
	}
	fromEnv, err := parseMesh(t)
	if err != nil || fromEnv.Settings.KEK == nil || fromEnv.Settings.KEK.CurrentID() != cfg.Settings.KEK.CurrentID() {
		t.Fatalf("$STREAMGATE_KEK: %v", err)
	}
	t.Setenv(envKEK, "not base64!")
	if _, err := parseMesh(t); err == nil {
		t.Error("a malformed $STREAMGATE_KEK was accepted")
	}
}

// TestServeNeedsKEK: serve runs auth or the worker only with a KEK,
// unless --dev-mode, and says how to make one.
func TestServeNeedsKEK(t *testing.T) {
	clearSecretEnv(t)
	for _, svc := range []string{"auth", "worker"} {
		err := runServe(t.Context(), []string{"--insecure-mesh", "--data-dir", t.TempDir(), svc}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "head -c32 /dev/urandom | base64") || !strings.Contains(err.Error(), "--kek-file") {
			t.Errorf("serve %s without a KEK: %v, want a refusal saying how to make one", svc, err)
		}
	}
}

func TestDevKEKFile(t *testing.T) {
	dir := t.TempDir()
	path, err := devKEKFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kek file: %v, mode %v; want 0600", err, fi.Mode())
	}
	first, err := secretbox.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Made once: a second run keeps it.
	if _, err := devKEKFile(dir); err != nil {
		t.Fatal(err)
	}
	again, err := secretbox.LoadFile(path)
	if err != nil || again.CurrentID() != first.CurrentID() {
		t.Errorf("the KEK changed on a second run: %v", err)
	}
}
