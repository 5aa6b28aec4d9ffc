package operatortokens_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/operatortokens"
)

const (
	aliceTok = "alice-0123456789abcdef"
	ciTok    = "ci-0123456789abcdefghij"
)

func TestMatch(t *testing.T) {
	s, err := operatortokens.Parse([]byte("# operators\nalice:" + aliceTok + "\n\n  ci : " + ciTok + "  \n"))
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{aliceTok: "alice", ciTok: "ci"} {
		if name, ok := s.Match(tok); !ok || name != want {
			t.Errorf("Match(%s) = %q, %v; want %q", tok, name, ok, want)
		}
	}
	for _, bad := range []string{"", aliceTok + "x", aliceTok[:10], strings.ToUpper(aliceTok), "alice:" + aliceTok} {
		if name, ok := s.Match(bad); ok {
			t.Errorf("Match(%q) = %q, want no match", bad, name)
		}
	}
	var none *operatortokens.Set
	if _, ok := none.Match(aliceTok); ok {
		t.Error("the nil set matched")
	}
}

func TestParseRefuses(t *testing.T) {
	for _, bad := range []string{
		"",
		"# nothing\n",
		"alice\n",
		"alice:short\n",
		"alice:" + aliceTok + "\nalice:" + ciTok + "\n",
		"alice:" + aliceTok + "\nbob:" + aliceTok + "\n",
		"al ice:" + aliceTok + "\n",
	} {
		if _, err := operatortokens.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	s, err := operatortokens.FromEnv(env(map[string]string{operatortokens.EnvTokens: "alice:" + aliceTok + ",ci:" + ciTok}))
	if err != nil || s.Len() != 2 {
		t.Fatalf("FromEnv(list) = %v, %v", s.Names(), err)
	}
	s, err = operatortokens.FromEnv(env(map[string]string{operatortokens.EnvToken: aliceTok}))
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := s.Match(aliceTok); !ok || name != "default" {
		t.Errorf("the one token of %s is named %q, want default", operatortokens.EnvToken, name)
	}
	if s, err := operatortokens.FromEnv(env(nil)); err != nil || s != nil {
		t.Errorf("FromEnv(empty) = %v, %v; want nil", s, err)
	}
}

func TestFileModeAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("alice:"+aliceTok+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := operatortokens.OpenFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable tokens file: %v, want a refusal saying chmod 600", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := operatortokens.OpenFile(path); err == nil {
		t.Fatal("group-writable tokens file accepted")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := operatortokens.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := f.Match(aliceTok); !ok || name != "alice" {
		t.Fatalf("Match = %q, %v", name, ok)
	}
	// Alice's token revoked, ci's added.
	if err := os.WriteFile(path, []byte("ci:"+ciTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Match(aliceTok); ok {
		t.Error("a revoked token still matches after reload")
	}
	if name, ok := f.Match(ciTok); !ok || name != "ci" {
		t.Errorf("Match(ci) = %q, %v", name, ok)
	}
	// A broken file leaves the tokens in force.
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err == nil {
		t.Error("Reload of a broken file succeeded")
	}
	if _, ok := f.Match(ciTok); !ok {
		t.Error("a failed reload dropped the tokens")
	}
}
