package access_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/auth/access"
)

type transfer struct {
	chainID  uint64
	contract common.Address
	from, to common.Address
	block    uint64
}

func TestWatcherInvalidatesOnTransfer(t *testing.T) {
	ctx := t.Context()
	aliceKey, alice := newWallet(t)
	_, bob := newWallet(t)
	if err := dev.Fund(ctx, alice, big.NewInt(1e18)); err != nil {
		t.Fatal(err)
	}
	passID, err := dev.Mint721(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Mint1155(ctx, alice, big.NewInt(3), big.NewInt(2)); err != nil {
		t.Fatal(err)
	}

	client := newChainClient(t, dev.RPCURL(), time.Minute)
	cc := &countingChain{Chain: client}
	ev := newEvaluator(t, cc, access.Config{PositiveTTL: time.Hour, NegativeTTL: time.Hour})
	w, err := access.NewWatcher(access.WatcherConfig{
		PollInterval: 100 * time.Millisecond,
		// The 1155 contract is configured; the 721 one is learned from a policy.
		Contracts: []access.ContractRef{{ChainID: devchain.ChainID, Contract: dev.ItemsAddress()}},
	}, client, ev, discard())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []transfer
	w.OnTransfer(func(_ context.Context, chainID uint64, contract, from, to common.Address, block uint64) {
		mu.Lock()
		seen = append(seen, transfer{chainID, contract, from, to, block})
		mu.Unlock()
	})
	seenTransfer := func(contract, from, to common.Address) (transfer, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, tr := range seen {
			if tr.contract == contract && tr.from == from && tr.to == to {
				return tr, true
			}
		}
		return transfer{}, false
	}

	// The policy is checked before the watcher runs: its contract is learned.
	byOwner := all(r721(dev.PassAddress(), passID.String(), ""))
	byBalance := all(r721(dev.PassAddress(), "", ""))
	for _, p := range []struct {
		name string
		addr common.Address
		want bool
	}{{"alice owns", alice, true}, {"bob does not", bob, false}} {
		d, err := ev.Check(ctx, byOwner, p.addr, false)
		if err != nil || d.Allowed != p.want {
			t.Fatalf("%s: %+v, %v", p.name, d, err)
		}
		if d, err := ev.Check(ctx, byBalance, p.addr, false); err != nil || d.Allowed != p.want {
			t.Fatalf("%s (balance): %+v, %v", p.name, d, err)
		}
	}
	// Both are now cached (an hour either way).
	if d, _ := ev.Check(ctx, byOwner, alice, false); !d.Rules[0].Cached {
		t.Fatal("alice's decision was not cached")
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	poll.Until(t, 15*time.Second, "the watcher to start on the dev chain", func() bool { return w.LastBlock(devchain.ChainID) > 0 })

	if err := dev.Transfer721(ctx, aliceKey, bob, passID); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the ERC-721 transfer callback", func() bool {
		_, ok := seenTransfer(dev.PassAddress(), alice, bob)
		return ok
	})
	tr, _ := seenTransfer(dev.PassAddress(), alice, bob)
	if tr.chainID != devchain.ChainID || tr.block == 0 {
		t.Fatalf("transfer = %+v", tr)
	}

	// The cached decisions of both sides are gone: the next check reads the
	// chain and sees the new owner.
	for _, p := range []struct {
		name string
		addr common.Address
		want bool
	}{{"alice no longer owns", alice, false}, {"bob owns", bob, true}} {
		d, err := ev.Check(ctx, byOwner, p.addr, false)
		if err != nil || d.Allowed != p.want || d.Rules[0].Cached {
			t.Fatalf("%s (ownerOf): %+v, %v; want allowed=%v from the chain", p.name, d, err, p.want)
		}
		if d.Rules[0].BlockNumber < tr.block {
			t.Fatalf("%s: read at block %d, before the transfer at %d", p.name, d.Rules[0].BlockNumber, tr.block)
		}
		d, err = ev.Check(ctx, byBalance, p.addr, false)
		if err != nil || d.Allowed != p.want || d.Rules[0].Cached {
			t.Fatalf("%s (balance): %+v, %v; want allowed=%v from the chain", p.name, d, err, p.want)
		}
	}

	// ERC-1155 TransferSingle on the configured contract is seen too.
	if err := dev.Transfer1155(ctx, aliceKey, bob, big.NewInt(3), big.NewInt(1)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the ERC-1155 transfer callback", func() bool {
		_, ok := seenTransfer(dev.ItemsAddress(), alice, bob)
		return ok
	})
	// Mints are reported with a zero from.
	if _, err := dev.Mint721(ctx, bob); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the mint callback", func() bool {
		_, ok := seenTransfer(dev.PassAddress(), common.Address{}, bob)
		return ok
	})
}
