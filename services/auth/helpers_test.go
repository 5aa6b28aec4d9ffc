package auth

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/video"
	"github.com/streamgate/streamgate/services/auth/siwe"
)

const (
	testDomain = "127.0.0.1:8080"
	testURI    = "http://127.0.0.1:8080"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeWallets is a contract-wallet chain: wallets maps a contract wallet
// to its isValidSignature logic.
type fakeWallets struct {
	mu      sync.Mutex
	wallets map[common.Address]func(hash common.Hash, sig []byte) bool
	err     error
	calls   int
}

func (f *fakeWallets) IsValidSignature(_ context.Context, chainID uint64, wallet common.Address, hash common.Hash, sig []byte) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return false, f.err
	}
	if chainID != 1337 {
		return false, errors.New("unexpected chain")
	}
	valid, ok := f.wallets[wallet]
	if !ok {
		return false, nil // an EOA: no code, no EIP-1271
	}
	return valid(hash, sig), nil
}

// fakeAccess answers Check from a table keyed by address.
type fakeAccess struct {
	mu      sync.Mutex
	allowed map[common.Address]bool
	err     error
	calls   int
}

func (f *fakeAccess) Check(_ context.Context, policy *authv1.AccessPolicy, addr common.Address, bypass bool) (*authv1.CheckAccessResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	res := &authv1.CheckAccessResponse{Allowed: f.allowed[addr]}
	for i := range policy.GetRules() {
		res.RuleResults = append(res.RuleResults, &authv1.RuleResult{RuleIndex: uint32(i), Satisfied: f.allowed[addr], Cached: !bypass})
	}
	return res, nil
}

type fakeVideos struct {
	mu     sync.Mutex
	videos map[string]*metadatav1.Video
	err    error
}

func (f *fakeVideos) GetVideo(_ context.Context, id string) (*metadatav1.Video, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.videos[id]
	if !ok {
		return nil, video.ErrNotFound
	}
	return v, nil
}

type env struct {
	t       *testing.T
	svc     *Service
	clock   *clock
	wallets *fakeWallets
	access  *fakeAccess
	videos  *fakeVideos
	client  authv1connect.AuthServiceClient
	url     string
	dir     string
}

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{
		t:       t,
		clock:   &clock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)},
		wallets: &fakeWallets{wallets: map[common.Address]func(common.Hash, []byte) bool{}},
		access:  &fakeAccess{allowed: map[common.Address]bool{}},
		videos:  &fakeVideos{videos: map[string]*metadatav1.Video{}},
		dir:     t.TempDir(),
	}
	e.start(mutate...)
	return e
}

func (e *env) config(mutate ...func(*Config)) Config {
	cfg := Config{Domain: testDomain, URI: testURI, DataDir: e.dir, Now: e.clock.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	return cfg
}

func (e *env) start(mutate ...func(*Config)) {
	t := e.t
	svc, err := New(e.config(mutate...), e.wallets, e.access, e.videos, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	mux := http.NewServeMux()
	mux.Handle(svc.Handler(connect.WithInterceptors(identity.NewInterceptor(svc.cfg.DevMode))))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); svc.Close() })
	e.url = srv.URL
	e.client = authv1connect.NewAuthServiceClient(srv.Client(), srv.URL)
}

type wallet struct {
	key  *ecdsa.PrivateKey
	addr common.Address
}

func newWallet(t testing.TB) wallet {
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return wallet{key: k, addr: crypto.PubkeyToAddress(k.PublicKey)}
}

// mixedCaseWallet returns a wallet whose EIP-55 address has upper- and
// lower-case letters, so that lower-casing it or flipping one letter changes
// it (a random address lacks one or the other about once in 30,000).
func mixedCaseWallet(t testing.TB) wallet {
	for {
		w := newWallet(t)
		h := w.addr.Hex()[2:]
		if strings.ContainsAny(h, "abcdef") && strings.ContainsAny(h, "ABCDEF") {
			return w
		}
	}
}

func (w wallet) sign(t testing.TB, msg string) string {
	sig, err := siwe.SignEIP191(msg, w.key)
	if err != nil {
		t.Fatal(err)
	}
	return hexutil.Encode(sig)
}

// challenge asks for a message for addr and returns it parsed.
func (e *env) challenge(addr common.Address) *siwe.Message {
	e.t.Helper()
	res, err := e.client.CreateChallenge(e.t.Context(), connect.NewRequest(&authv1.CreateChallengeRequest{Address: addr.Hex(), ChainId: 1337}))
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := siwe.Parse(res.Msg.GetMessage())
	if err != nil {
		e.t.Fatalf("CreateChallenge returned an unparsable message: %v\n%s", err, res.Msg.GetMessage())
	}
	return m
}

func (e *env) signIn(msg, sig string) (*authv1.SignInResponse, error) {
	res, err := e.client.SignIn(e.t.Context(), connect.NewRequest(&authv1.SignInRequest{Message: msg, Signature: sig}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// login signs w in and returns the response.
func (e *env) login(w wallet) *authv1.SignInResponse {
	e.t.Helper()
	msg := e.challenge(w.addr).String()
	res, err := e.signIn(msg, w.sign(e.t, msg))
	if err != nil {
		e.t.Fatalf("SignIn: %v", err)
	}
	return res
}

func withBearer[T any](msg *T, token string) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+token)
	return r
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if got := connect.CodeOf(err); err == nil || got != code {
		t.Fatalf("err = %v (code %v), want code %v", err, got, code)
	}
}

var errChainDown = errors.New("dial tcp 127.0.0.1:8545: connection refused")

// textHash is what EIP-1271 wallets are asked about.
func textHash(msg string) common.Hash { return common.BytesToHash(accounts.TextHash([]byte(msg))) }

// liveGrants counts the unexpired playback grants in svc's store (the
// store every instance on the same database shares).
func liveGrants(t testing.TB, svc *Service) int {
	t.Helper()
	var n int
	if err := svc.store.db.QueryRowContext(t.Context(), svc.store.q(`SELECT count(*) FROM playback_grants WHERE expires > ?`), ms(svc.cfg.Now())).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
