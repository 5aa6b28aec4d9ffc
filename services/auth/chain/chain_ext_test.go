package chain_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/services/auth/chain"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startDevChain(t *testing.T) *devchain.Chain {
	t.Helper()
	dc, err := devchain.New(t.Context(), devchain.Config{BlockInterval: 250 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)
	return dc
}

func newClient(t *testing.T, chains map[uint64]string) *chain.Client {
	t.Helper()
	c, err := chain.New(chain.Config{
		Chains:          chains,
		CallTimeout:     2 * time.Second,
		BreakerFailures: 3,
		BreakerOpenFor:  time.Minute,
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// closedPortURL returns an http URL on loopback where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		chains map[uint64]string
	}{
		{"no chains", nil},
		{"chain id 0", map[uint64]string{0: "http://127.0.0.1:8545"}},
		{"not a url", map[uint64]string{1: "::::"}},
		{"no host", map[uint64]string{1: "http://"}},
		{"bad scheme", map[uint64]string{1: "ftp://127.0.0.1:8545"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := chain.New(chain.Config{Chains: tt.chains}, discard()); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

func TestReads(t *testing.T) {
	ctx := t.Context()
	dc := startDevChain(t)
	c := newClient(t, map[uint64]string{devchain.ChainID: dc.RPCURL()})

	id, err := c.ChainIDOf(ctx, devchain.ChainID)
	if err != nil || id != devchain.ChainID {
		t.Fatalf("ChainIDOf = %d, %v; want 1337", id, err)
	}
	head, err := c.HeadBlock(ctx, devchain.ChainID)
	if err != nil || head == 0 {
		t.Fatalf("HeadBlock = %d, %v; want > 0 (contracts were deployed)", head, err)
	}

	holder := common.HexToAddress("0x00000000000000000000000000000000000000a1")
	tokenID, err := dc.Mint721(ctx, holder)
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.Mint1155(ctx, holder, big.NewInt(7), big.NewInt(3)); err != nil {
		t.Fatal(err)
	}

	owner, err := c.ERC721OwnerOf(ctx, devchain.ChainID, dc.PassAddress(), tokenID, 0)
	if err != nil || owner != holder {
		t.Fatalf("ownerOf = %s, %v; want %s", owner.Hex(), err, holder.Hex())
	}
	bal, err := c.ERC721BalanceOf(ctx, devchain.ChainID, dc.PassAddress(), holder, 0)
	if err != nil || bal.Cmp(big.NewInt(1)) != 0 {
		t.Fatalf("ERC-721 balanceOf = %v, %v; want 1", bal, err)
	}
	bal, err = c.ERC1155BalanceOf(ctx, devchain.ChainID, dc.ItemsAddress(), holder, big.NewInt(7), 0)
	if err != nil || bal.Cmp(big.NewInt(3)) != 0 {
		t.Fatalf("ERC-1155 balanceOf = %v, %v; want 3", bal, err)
	}
	// Reading at an older block sees the older state.
	bal, err = c.ERC721BalanceOf(ctx, devchain.ChainID, dc.PassAddress(), holder, head)
	if err != nil || bal.Sign() != 0 {
		t.Fatalf("ERC-721 balanceOf at block %d = %v, %v; want 0", head, bal, err)
	}

	// A token that does not exist reverts.
	_, err = c.ERC721OwnerOf(ctx, devchain.ChainID, dc.PassAddress(), big.NewInt(1_000_000), 0)
	if !errors.Is(err, chain.ErrReverted) {
		t.Fatalf("ownerOf(missing) err = %v, want ErrReverted", err)
	}
	// An address without code gives no answer to decode.
	_, err = c.ERC20BalanceOf(ctx, devchain.ChainID, holder, holder, 0)
	if !errors.Is(err, chain.ErrBadResponse) {
		t.Fatalf("balanceOf on an EOA err = %v, want ErrBadResponse", err)
	}

	ifaces := []struct {
		name     string
		contract common.Address
		id       [4]byte
		want     bool
	}{
		{"pass is ERC-721", dc.PassAddress(), chain.InterfaceERC721, true},
		{"pass is ERC-165", dc.PassAddress(), chain.InterfaceERC165, true},
		{"pass is not ERC-1155", dc.PassAddress(), chain.InterfaceERC1155, false},
		{"items is ERC-1155", dc.ItemsAddress(), chain.InterfaceERC1155, true},
		{"items is not ERC-721", dc.ItemsAddress(), chain.InterfaceERC721, false},
		{"an EOA supports nothing", holder, chain.InterfaceERC721, false},
	}
	for _, tt := range ifaces {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.SupportsInterface(ctx, devchain.ChainID, tt.contract, tt.id, 0)
			if err != nil || got != tt.want {
				t.Fatalf("SupportsInterface = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestUnknownChain(t *testing.T) {
	c := newClient(t, map[uint64]string{1: closedPortURL(t)})
	_, err := c.HeadBlock(t.Context(), 5)
	if !errors.Is(err, chain.ErrUnknownChain) {
		t.Fatalf("err = %v, want ErrUnknownChain", err)
	}
	_, err = c.IsValidSignature(t.Context(), 5, common.Address{1}, common.Hash{}, nil)
	if !errors.Is(err, chain.ErrUnknownChain) {
		t.Fatalf("IsValidSignature err = %v, want ErrUnknownChain", err)
	}
}

func TestUnreachableOpensBreaker(t *testing.T) {
	c := newClient(t, map[uint64]string{9: closedPortURL(t)})
	for i := range 3 {
		_, err := c.HeadBlock(t.Context(), 9)
		if !errors.Is(err, chain.ErrUnavailable) {
			t.Fatalf("call %d: err = %v, want ErrUnavailable", i, err)
		}
	}
	if st, _ := c.BreakerState(9); st != "open" {
		t.Fatalf("breaker = %s after 3 failures, want open", st)
	}
	start := time.Now()
	_, err := c.HeadBlock(t.Context(), 9)
	if !errors.Is(err, chain.ErrUnavailable) {
		t.Fatalf("open breaker: err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("open breaker took %v; it should refuse without a network call", d)
	}
	// The caller's own cancellation is reported as such.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.HeadBlock(ctx, 9); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ctx: err = %v, want context.Canceled", err)
	}
}

func TestIsValidSignatureEIP1271(t *testing.T) {
	ctx := t.Context()
	dc := startDevChain(t)
	c := newClient(t, map[uint64]string{devchain.ChainID: dc.RPCURL()})

	ownerKey, _ := crypto.GenerateKey()
	owner := crypto.PubkeyToAddress(ownerKey.PublicKey)
	strangerKey, _ := crypto.GenerateKey()

	accepting, err := dc.DeployWallet(ctx, owner, false)
	if err != nil {
		t.Fatal(err)
	}
	rejecting, err := dc.DeployWallet(ctx, owner, true)
	if err != nil {
		t.Fatal(err)
	}

	msg := []byte("streamgate.test wants you to sign in with your Ethereum account")
	hash := common.BytesToHash(accounts.TextHash(msg))
	signWith := func(k *ecdsa.PrivateKey) []byte {
		sig, err := crypto.Sign(hash[:], k)
		if err != nil {
			t.Fatal(err)
		}
		sig[64] += 27 // wallets send V as 27/28
		return sig
	}
	ownerSig := signWith(ownerKey)
	strangerSig := signWith(strangerKey)
	tampered := append([]byte(nil), ownerSig...)
	tampered[10] ^= 0xff

	tests := []struct {
		name   string
		wallet common.Address
		hash   common.Hash
		sig    []byte
		want   bool
	}{
		{"owner signature accepted", accepting, hash, ownerSig, true},
		{"rejecting wallet refuses the owner", rejecting, hash, ownerSig, false},
		{"stranger signature refused", accepting, hash, strangerSig, false},
		{"tampered signature refused", accepting, hash, tampered, false},
		{"other hash refused", accepting, common.Hash{1}, ownerSig, false},
		{"short signature refused", accepting, hash, ownerSig[:64], false},
		{"empty signature refused", accepting, hash, nil, false},
		{"an EOA has no code: false", owner, hash, ownerSig, false},
		{"a non-wallet contract: false", dc.PassAddress(), hash, ownerSig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.IsValidSignature(ctx, devchain.ChainID, tt.wallet, tt.hash, tt.sig)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Fatalf("IsValidSignature = %v, want %v", got, tt.want)
			}
		})
	}

	// An unreachable chain is an error, never a verdict.
	down := newClient(t, map[uint64]string{devchain.ChainID: closedPortURL(t)})
	ok, err := down.IsValidSignature(ctx, devchain.ChainID, accepting, hash, ownerSig)
	if ok || !errors.Is(err, chain.ErrUnavailable) {
		t.Fatalf("unreachable: got %v, %v; want false, ErrUnavailable", ok, err)
	}
}
