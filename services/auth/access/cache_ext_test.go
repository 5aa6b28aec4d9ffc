package access_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/services/auth/access"
)

func TestMemoryCache(t *testing.T) {
	ctx := t.Context()
	clk := newClock()
	c := access.NewMemoryCache(clk.Now, time.Minute)
	contract := common.HexToAddress("0x00000000000000000000000000000000000000c1")
	alice := common.HexToAddress("0x00000000000000000000000000000000000000a1")
	bob := common.HexToAddress("0x00000000000000000000000000000000000000b1")
	key := func(holder common.Address, tokenID string) access.Key {
		return access.Key{ChainID: 1337, Contract: contract, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, TokenID: tokenID, Holder: holder}
	}
	obs := func(block uint64) access.Observation {
		return access.Observation{Balance: big.NewInt(1), BlockNumber: block, CheckedAt: clk.Now()}
	}

	c.Put(ctx, key(alice, ""), obs(10), 30*time.Second)
	c.Put(ctx, key(alice, "5"), obs(10), 30*time.Second)
	c.Put(ctx, key(bob, ""), obs(10), 30*time.Second)
	if o, ok := c.Get(ctx, key(alice, "5")); !ok || o.BlockNumber != 10 {
		t.Fatalf("Get = %+v, %v; want the stored observation", o, ok)
	}

	// The store's own TTL.
	clk.Advance(31 * time.Second)
	if _, ok := c.Get(ctx, key(bob, "")); ok {
		t.Fatal("entry served past its TTL")
	}

	// Invalidation drops every entry of the holder for the contract, and
	// refuses reads that started before the transfer block.
	c.Put(ctx, key(alice, ""), obs(10), 30*time.Second)
	c.Put(ctx, key(alice, "5"), obs(10), 30*time.Second)
	c.Put(ctx, key(bob, ""), obs(10), 30*time.Second)
	c.Invalidate(ctx, 1337, contract, 12, alice)
	for _, k := range []access.Key{key(alice, ""), key(alice, "5")} {
		if _, ok := c.Get(ctx, k); ok {
			t.Fatalf("%+v survived invalidation", k)
		}
	}
	if _, ok := c.Get(ctx, key(bob, "")); !ok {
		t.Fatal("bob's entry was dropped by alice's invalidation")
	}
	c.Put(ctx, key(alice, ""), obs(11), 30*time.Second) // read before the transfer: stale
	if _, ok := c.Get(ctx, key(alice, "")); ok {
		t.Fatal("a read from before the transfer block was cached")
	}
	c.Put(ctx, key(alice, ""), obs(12), 30*time.Second) // read at the transfer block: fine
	if _, ok := c.Get(ctx, key(alice, "")); !ok {
		t.Fatal("a read at the transfer block was refused")
	}
	// The floor is forgotten after its TTL.
	clk.Advance(2 * time.Minute)
	c.Put(ctx, key(alice, "5"), obs(11), 30*time.Second)
	if _, ok := c.Get(ctx, key(alice, "5")); !ok {
		t.Fatal("floor outlived its TTL")
	}
	// Another chain or contract is untouched by an invalidation.
	other := access.Key{ChainID: 1, Contract: contract, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, Holder: alice}
	c.Put(ctx, other, obs(10), 30*time.Second)
	c.Invalidate(ctx, 1337, contract, 0, alice)
	if _, ok := c.Get(ctx, other); !ok {
		t.Fatal("an invalidation on chain 1337 dropped a chain 1 entry")
	}
}

func TestConfigRejectsNegativeTTLAbovePositive(t *testing.T) {
	_, err := access.NewEvaluator(access.Config{PositiveTTL: time.Second, NegativeTTL: 2 * time.Second}, &fakeChain{}, nil, discard())
	if err == nil {
		t.Fatal("accepted NegativeTTL > PositiveTTL")
	}
}
