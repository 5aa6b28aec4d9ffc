package devchain_test

import (
	"io"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/devchain/bindings"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestDevChainOverHTTP drives the chain only through its JSON-RPC endpoint,
// the way `streamgate dev` users and wallets see it.
func TestDevChainOverHTTP(t *testing.T) {
	ctx := t.Context()
	dc, err := devchain.New(ctx, devchain.Config{BlockInterval: 200 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)

	ec, err := ethclient.DialContext(ctx, dc.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ec.Close)

	id, err := ec.ChainID(ctx)
	if err != nil {
		t.Fatalf("eth_chainId over HTTP: %v", err)
	}
	if id.Uint64() != 1337 {
		t.Fatalf("eth_chainId = %d, want 1337", id)
	}

	// Auto-mining: the head advances by itself.
	start, err := ec.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := ec.BlockNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n > start {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("head stuck at %d", n)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, not synchronizing
	}

	// The demo wallet is funded and the demo contracts are deployed.
	bal, err := ec.BalanceAt(ctx, dc.DemoWallet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Sign() <= 0 {
		t.Fatalf("demo wallet balance = %s, want > 0", bal)
	}
	for name, addr := range map[string]common.Address{"pass": dc.PassAddress(), "items": dc.ItemsAddress()} {
		code, err := ec.CodeAt(ctx, addr, nil)
		if err != nil || len(code) == 0 {
			t.Fatalf("%s at %s: code %d bytes, err %v", name, addr.Hex(), len(code), err)
		}
	}

	// Mint, read back over HTTP, transfer, read back again.
	pass := bindings.NewStreamGatePass()
	tokenID, err := dc.Mint721(ctx, dc.DemoWallet())
	if err != nil {
		t.Fatal(err)
	}
	ownerOf := func() common.Address {
		t.Helper()
		out, err := ec.CallContract(ctx, ethereum.CallMsg{To: ptr(dc.PassAddress()), Data: pass.PackOwnerOf(tokenID)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		owner, err := pass.UnpackOwnerOf(out)
		if err != nil {
			t.Fatal(err)
		}
		return owner
	}
	if got := ownerOf(); got != dc.DemoWallet() {
		t.Fatalf("ownerOf(%s) = %s, want demo wallet %s", tokenID, got.Hex(), dc.DemoWallet().Hex())
	}
	other, _ := crypto.GenerateKey()
	otherAddr := crypto.PubkeyToAddress(other.PublicKey)
	if err := dc.Transfer721(ctx, dc.DemoWalletKey(), otherAddr, tokenID); err != nil {
		t.Fatal(err)
	}
	if got := ownerOf(); got != otherAddr {
		t.Fatalf("after transfer ownerOf(%s) = %s, want %s", tokenID, got.Hex(), otherAddr.Hex())
	}
	// A second mint gets the next id.
	next, err := dc.Mint721(ctx, otherAddr)
	if err != nil {
		t.Fatal(err)
	}
	if want := new(big.Int).Add(tokenID, big.NewInt(1)); next.Cmp(want) != 0 {
		t.Fatalf("second token id = %s, want %s", next, want)
	}
	// Only the deployer may mint; a transfer of someone else's token fails.
	if err := dc.Transfer721(ctx, dc.DemoWalletKey(), otherAddr, next); err == nil {
		t.Fatal("transfer of a token the sender does not own succeeded")
	}
}

func TestDevChainCloseTwiceAndPortFreed(t *testing.T) {
	dc, err := devchain.New(t.Context(), devchain.Config{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	url := dc.RPCURL()
	dc.Close()
	dc.Close()
	ec, err := ethclient.DialContext(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	if _, err := ec.ChainID(t.Context()); err == nil {
		t.Fatal("RPC still answers after Close")
	}
}

func ptr[T any](v T) *T { return &v }
