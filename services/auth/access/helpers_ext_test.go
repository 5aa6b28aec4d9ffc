package access_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/services/auth/access"
	"github.com/streamgate/streamgate/services/auth/chain"
)

// dev is one dev chain shared by the tests of this package; each test uses
// its own fresh wallets so they do not see each other's tokens.
var dev *devchain.Chain

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var err error
	dev, err = devchain.New(ctx, devchain.Config{BlockInterval: 250 * time.Millisecond}, discard())
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start dev chain:", err)
		os.Exit(1)
	}
	code := m.Run()
	dev.Close()
	os.Exit(code)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// countingChain counts the chain calls the evaluator makes.
type countingChain struct {
	access.Chain
	calls atomic.Int64
}

func (c *countingChain) HeadBlock(ctx context.Context, id uint64) (uint64, error) {
	c.calls.Add(1)
	return c.Chain.HeadBlock(ctx, id)
}

func (c *countingChain) SupportsInterface(ctx context.Context, id uint64, contract common.Address, iface [4]byte, block uint64) (bool, error) {
	c.calls.Add(1)
	return c.Chain.SupportsInterface(ctx, id, contract, iface, block)
}

func (c *countingChain) ERC20BalanceOf(ctx context.Context, id uint64, contract, holder common.Address, block uint64) (*big.Int, error) {
	c.calls.Add(1)
	return c.Chain.ERC20BalanceOf(ctx, id, contract, holder, block)
}

func (c *countingChain) ERC721BalanceOf(ctx context.Context, id uint64, contract, holder common.Address, block uint64) (*big.Int, error) {
	c.calls.Add(1)
	return c.Chain.ERC721BalanceOf(ctx, id, contract, holder, block)
}

func (c *countingChain) ERC721OwnerOf(ctx context.Context, id uint64, contract common.Address, tokenID *big.Int, block uint64) (common.Address, error) {
	c.calls.Add(1)
	return c.Chain.ERC721OwnerOf(ctx, id, contract, tokenID, block)
}

func (c *countingChain) ERC1155BalanceOf(ctx context.Context, id uint64, contract, holder common.Address, tokenID *big.Int, block uint64) (*big.Int, error) {
	c.calls.Add(1)
	return c.Chain.ERC1155BalanceOf(ctx, id, contract, holder, tokenID, block)
}

// newChainClient returns a chain client for the dev chain at rpcURL.
func newChainClient(t *testing.T, rpcURL string, openFor time.Duration) *chain.Client {
	t.Helper()
	c, err := chain.New(chain.Config{
		Chains:          map[uint64]string{devchain.ChainID: rpcURL},
		CallTimeout:     3 * time.Second,
		BreakerFailures: 3,
		BreakerOpenFor:  openFor,
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type clock struct{ now atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *clock) Advance(d time.Duration) { c.now.Add(int64(d)) }

func newEvaluator(t *testing.T, ch access.Chain, cfg access.Config) *access.Evaluator {
	t.Helper()
	e, err := access.NewEvaluator(cfg, ch, nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newWallet(t *testing.T) (*ecdsa.PrivateKey, common.Address) {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, crypto.PubkeyToAddress(k.PublicKey)
}

// Rule builders.
func r721(contract common.Address, tokenID, min string) *authv1.AccessRule {
	r := &authv1.AccessRule{ChainId: devchain.ChainID, ContractAddress: contract.Hex(),
		Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, MinBalance: min}
	if tokenID != "" {
		r.TokenId = &tokenID
	}
	return r
}

func r1155(contract common.Address, tokenID, min string) *authv1.AccessRule {
	return &authv1.AccessRule{ChainId: devchain.ChainID, ContractAddress: contract.Hex(),
		Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC1155, TokenId: &tokenID, MinBalance: min}
}

func r20(contract common.Address, min string) *authv1.AccessRule {
	return &authv1.AccessRule{ChainId: devchain.ChainID, ContractAddress: contract.Hex(),
		Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC20, MinBalance: min}
}

func all(rules ...*authv1.AccessRule) *authv1.AccessPolicy {
	return &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: rules}
}

func anyOf(rules ...*authv1.AccessRule) *authv1.AccessPolicy {
	return &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, Rules: rules}
}

// switchableProxy forwards JSON-RPC to the dev chain until it is switched
// down; then it drops every connection, like a dead endpoint.
type switchableProxy struct {
	srv      *httptest.Server
	down     atomic.Bool
	requests atomic.Int64
}

func newSwitchableProxy(t *testing.T, target string) *switchableProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &switchableProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if p.down.Load() {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// gatedChain holds every ERC-721 balanceOf read until gate is closed.
type gatedChain struct {
	countingChain
	gate         chan struct{}
	balanceCalls atomic.Int64
}

func (g *gatedChain) ERC721BalanceOf(ctx context.Context, id uint64, contract, holder common.Address, block uint64) (*big.Int, error) {
	g.balanceCalls.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.countingChain.ERC721BalanceOf(ctx, id, contract, holder, block)
}

// countingCache counts lookups.
type countingCache struct {
	access.Cache
	gets atomic.Int64
}

func (c *countingCache) Get(ctx context.Context, k access.Key) (access.Observation, bool) {
	c.gets.Add(1)
	return c.Cache.Get(ctx, k)
}
