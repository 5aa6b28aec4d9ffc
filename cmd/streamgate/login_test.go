package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/video"
	"github.com/streamgate/streamgate/services/auth"
)

type noWallets struct{}

func (noWallets) IsValidSignature(context.Context, uint64, common.Address, common.Hash, []byte) (bool, error) {
	return false, nil
}

type noAccess struct{}

func (noAccess) Check(context.Context, *authv1.AccessPolicy, common.Address, bool) (*authv1.CheckAccessResponse, error) {
	return nil, errors.New("no chain in this test")
}

type noVideos struct{}

func (noVideos) GetVideo(context.Context, string) (*metadatav1.Video, error) {
	return nil, video.ErrNotFound
}

// startAuth serves an in-process auth service whose SIWE domain is its own
// address (as the gateway's public URL is in streamgate dev), or domain when
// given. It points the user config dir at a temp dir.
func startAuth(t *testing.T, sessionTTL time.Duration, domain string) (url string, client authv1connect.AuthServiceClient) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	srv := httptest.NewUnstartedServer(nil)
	url = "http://" + srv.Listener.Addr().String()
	if domain == "" {
		domain = srv.Listener.Addr().String()
	}
	svc, err := auth.New(auth.Config{Domain: domain, URI: "http://" + domain, DataDir: t.TempDir(), SessionTTL: sessionTTL},
		noWallets{}, noAccess{}, noVideos{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(svc.Handler(connect.WithInterceptors(identity.NewInterceptor(false))))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() { srv.Close(); svc.Close() })
	return url, authv1connect.NewAuthServiceClient(srv.Client(), url)
}

// whoami calls GetSession with the stored session, as client commands do.
func whoami(t *testing.T, client authv1connect.AuthServiceClient) string {
	t.Helper()
	req := connect.NewRequest(&authv1.GetSessionRequest{})
	if err := authorizeSession(t.Context(), req.Header()); err != nil {
		t.Fatalf("authorize: %v", err)
	}
	res, err := client.GetSession(t.Context(), req)
	if err != nil {
		t.Fatalf("GetSession with the stored session: %v", err)
	}
	return res.Msg.GetSession().GetAddress()
}

func TestLoginDev(t *testing.T) {
	url, client := startAuth(t, 0, "")
	var stdout, stderr bytes.Buffer
	if err := runLogin(t.Context(), []string{"--dev", "--gateway", url}, &stdout, &stderr); err != nil {
		t.Fatalf("login: %v\nstderr: %s", err, stderr.String())
	}
	demo := crypto.PubkeyToAddress(mustKey(t, devchain.DemoWalletKeyHex).PublicKey).Hex()
	if !strings.Contains(stdout.String(), "signed in as "+demo) {
		t.Fatalf("stdout = %q", stdout.String())
	}
	p, err := sessionPath()
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "streamgate", "session.json") {
		t.Fatalf("session path = %s", p)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("session file mode = %v, want 0600", st.Mode().Perm())
	}
	s, err := loadSession()
	if err != nil {
		t.Fatal(err)
	}
	if s.Address != demo || s.ChainID != devchain.ChainID || s.AccessToken == "" || s.RefreshToken == "" ||
		s.SessionID == "" || time.Until(s.AccessExpiry) < 10*time.Minute || s.Gateway != url {
		t.Fatalf("stored session = %+v", s)
	}
	// A fresh token is used as is.
	if got := whoami(t, client); got != demo {
		t.Fatalf("GetSession address = %s, want %s", got, demo)
	}
	if s2, _ := loadSession(); s2.RefreshToken != s.RefreshToken {
		t.Fatal("refreshed a token that was not about to expire")
	}
}

func TestLoginKeyFileAndRefresh(t *testing.T) {
	// Access tokens live 30s, inside the refresh margin: every use refreshes.
	url, client := startAuth(t, 30*time.Second, "")
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "wallet.key")
	if err := os.WriteFile(keyFile, []byte("0x"+hex.EncodeToString(crypto.FromECDSA(key))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := runLogin(t.Context(), []string{"--key", keyFile, "--gateway", url + "/"}, &stdout, &stderr); err != nil {
		t.Fatalf("login: %v\nstderr: %s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "warning") {
		t.Fatalf("warned about a 0600 key file: %s", stderr.String())
	}
	addr := crypto.PubkeyToAddress(key.PublicKey).Hex()
	before, err := loadSession()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if got := whoami(t, client); got != addr {
			t.Fatalf("GetSession address = %s, want %s", got, addr)
		}
		after, err := loadSession()
		if err != nil {
			t.Fatal(err)
		}
		// The refresh token is single-use: a refresh stores the next one.
		// (The access token may be byte-identical within one second.)
		if after.RefreshToken == before.RefreshToken || after.AccessToken == "" {
			t.Fatalf("use %d: tokens not refreshed and stored", i)
		}
		before = after
	}
}

func TestLoginRefuses(t *testing.T) {
	url, _ := startAuth(t, 0, "")
	// A server whose SIWE domain is another site: the message is not signed.
	phishURL, _ := startAuth(t, 0, "streamgate.example")
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage.key", "not a key at all", 0o600)
	huge := write("huge.key", strings.Repeat("a", 5000), 0o600)
	for _, tt := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"neither --key nor --dev", []string{"--gateway", url}, true, "exactly one"},
		{"both --key and --dev", []string{"--dev", "--key", garbage, "--gateway", url}, true, "exactly one"},
		{"bad server", []string{"--dev", "--server", "ftp://x"}, true, "--server"},
		{"bad server by its old name", []string{"--dev", "--gateway", "ftp://x"}, true, "--server"},
		{"missing key file", []string{"--key", filepath.Join(dir, "nope"), "--gateway", url}, false, "key file"},
		{"garbage key file", []string{"--key", garbage, "--gateway", url}, false, "not a hex secp256k1 private key"},
		{"huge key file", []string{"--key", huge, "--gateway", url}, false, "too large"},
		{"chain not allowed", []string{"--dev", "--gateway", url, "--chain-id", "1"}, false, "create challenge"},
		{"message for another domain", []string{"--dev", "--gateway", phishURL}, false, "refusing to sign"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runLogin(t.Context(), tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("accepted")
			}
			if (err == errUsage) != tt.usage {
				t.Fatalf("err = %v, want usage error %v", err, tt.usage)
			}
			if msg := err.Error() + stderr.String(); !strings.Contains(msg, tt.want) {
				t.Fatalf("error %q / stderr %q, want %q", err, stderr.String(), tt.want)
			}
			if strings.Contains(err.Error(), "not a key at all") {
				t.Fatal("the error echoes the key file")
			}
		})
	}
	if _, err := loadSession(); !errors.Is(err, errNotLoggedIn) {
		t.Fatalf("a refused login stored a session: %v", err)
	}
	if err := authorizeSession(t.Context(), http.Header{}); !errors.Is(err, errNotLoggedIn) {
		t.Fatalf("authorize without a session = %v, want errNotLoggedIn", err)
	}
}

func TestLoginWarnsOnOpenKeyFile(t *testing.T) {
	url, _ := startAuth(t, 0, "")
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "open.key")
	if err := os.WriteFile(p, []byte(hex.EncodeToString(crypto.FromECDSA(key))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil { // umask-proof
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := runLogin(t.Context(), []string{"--key", p, "--gateway", url}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "readable by others") {
		t.Fatalf("no warning for a 0644 key file: %q", stderr.String())
	}
}

func mustKey(t *testing.T, h string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.HexToECDSA(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
