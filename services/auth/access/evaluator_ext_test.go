package access_test

import (
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/auth/access"
	"github.com/streamgate/streamgate/services/auth/chain"
)

func TestPoliciesOnDevChain(t *testing.T) {
	ctx := t.Context()
	_, holder := newWallet(t)
	_, stranger := newWallet(t)

	passID, err := dev.Mint721(ctx, holder)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Mint1155(ctx, holder, big.NewInt(7), big.NewInt(3)); err != nil {
		t.Fatal(err)
	}
	token, err := dev.DeployToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.MintToken(ctx, token, holder, big.NewInt(100)); err != nil {
		t.Fatal(err)
	}
	pass, items := dev.PassAddress(), dev.ItemsAddress()
	id := passID.String()

	tests := []struct {
		name      string
		policy    *authv1.AccessPolicy
		addr      common.Address
		allowed   bool
		satisfied []bool // per evaluated rule, in order
		balances  []int64
	}{
		{"public", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}, stranger, true, nil, nil},
		{"721 balance: holder", all(r721(pass, "", "")), holder, true, []bool{true}, []int64{1}},
		{"721 balance: stranger", all(r721(pass, "", "")), stranger, false, []bool{false}, []int64{0}},
		{"721 balance: min 2", all(r721(pass, "", "2")), holder, false, []bool{false}, []int64{1}},
		{"721 ownerOf: owner", all(r721(pass, id, "")), holder, true, []bool{true}, []int64{1}},
		{"721 ownerOf: stranger", all(r721(pass, id, "")), stranger, false, []bool{false}, []int64{0}},
		{"721 ownerOf: token does not exist", all(r721(pass, "999999", "")), holder, false, []bool{false}, []int64{0}},
		{"1155: holder has 3 of id 7", all(r1155(items, "7", "3")), holder, true, []bool{true}, []int64{3}},
		{"1155: min 4", all(r1155(items, "7", "4")), holder, false, []bool{false}, []int64{3}},
		{"1155: other id", all(r1155(items, "8", "")), holder, false, []bool{false}, []int64{0}},
		{"1155: stranger", all(r1155(items, "7", "")), stranger, false, []bool{false}, []int64{0}},
		{"20: min 100", all(r20(token, "100")), holder, true, []bool{true}, []int64{100}},
		{"20: min 101", all(r20(token, "101")), holder, false, []bool{false}, []int64{100}},
		{"20: default min 1, stranger", all(r20(token, "")), stranger, false, []bool{false}, []int64{0}},
		{"ALL: every rule holds", all(r721(pass, "", ""), r1155(items, "7", ""), r20(token, "50")), holder, true,
			[]bool{true, true, true}, []int64{1, 3, 100}},
		{"ALL: stops at the first unsatisfied rule", all(r721(pass, "", ""), r1155(items, "7", "9"), r20(token, "")), holder, false,
			[]bool{true, false}, []int64{1, 3}},
		{"ANY: one rule holds", anyOf(r1155(items, "7", "9"), r20(token, "1")), holder, true,
			[]bool{false, true}, []int64{3, 100}},
		{"ANY: stops at the first satisfied rule", anyOf(r721(pass, "", ""), r20(token, "1000")), holder, true,
			[]bool{true}, []int64{1}},
		{"ANY: no rule holds", anyOf(r721(pass, "", ""), r1155(items, "7", ""), r20(token, "")), stranger, false,
			[]bool{false, false, false}, []int64{0, 0, 0}},
	}
	ev := newEvaluator(t, newChainClient(t, dev.RPCURL(), time.Minute), access.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ev.Check(ctx, tt.policy, tt.addr, true)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if d.Allowed != tt.allowed {
				t.Fatalf("Allowed = %v, want %v", d.Allowed, tt.allowed)
			}
			if len(d.Rules) != len(tt.satisfied) {
				t.Fatalf("got %d rule results, want %d: %+v", len(d.Rules), len(tt.satisfied), d.Rules)
			}
			for i, rr := range d.Rules {
				if rr.Index != i || rr.Satisfied != tt.satisfied[i] || rr.Balance.Cmp(big.NewInt(tt.balances[i])) != 0 {
					t.Errorf("rule %d: got index %d satisfied %v balance %s; want index %d satisfied %v balance %d",
						i, rr.Index, rr.Satisfied, rr.Balance, i, tt.satisfied[i], tt.balances[i])
				}
				if rr.Cached || rr.BlockNumber == 0 || rr.CheckedAt.IsZero() {
					t.Errorf("rule %d: cached %v block %d checked %v; want a fresh read with block and time", i, rr.Cached, rr.BlockNumber, rr.CheckedAt)
				}
			}
		})
	}
}

func TestInvalidPolicies(t *testing.T) {
	ev := newEvaluator(t, newChainClient(t, dev.RPCURL(), time.Minute), access.Config{})
	pass := dev.PassAddress()
	mixed := pass.Hex()
	// Break the EIP-55 checksum by flipping the case of one letter.
	bad := []byte(mixed)
	for i := 2; i < len(bad); i++ {
		if c := bad[i]; c >= 'a' && c <= 'f' {
			bad[i] = c - 32
			break
		} else if c >= 'A' && c <= 'F' {
			bad[i] = c + 32
			break
		}
	}
	many := make([]*authv1.AccessRule, access.MaxRules+1)
	for i := range many {
		many[i] = r721(pass, "", "")
	}
	withAddr := func(a string) *authv1.AccessRule { r := r721(pass, "", ""); r.ContractAddress = a; return r }
	withChain := func(id uint64) *authv1.AccessRule { r := r721(pass, "", ""); r.ChainId = id; return r }
	empty := ""
	tests := []struct {
		name   string
		policy *authv1.AccessPolicy
		want   string
	}{
		{"nil policy", nil, "no policy"},
		{"mode unspecified", &authv1.AccessPolicy{Rules: []*authv1.AccessRule{r721(pass, "", "")}}, "mode"},
		{"public with rules", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC, Rules: []*authv1.AccessRule{r721(pass, "", "")}}, "no rules"},
		{"ALL without rules", all(), "1 to 16"},
		{"too many rules", all(many...), "1 to 16"},
		{"unconfigured chain", all(withChain(1)), "rule 0: chain 1 is not configured"},
		{"chain 0", all(withChain(0)), "chain 0"},
		{"address without 0x", all(withAddr(strings.TrimPrefix(mixed, "0x"))), "contract_address"},
		{"address too short", all(withAddr(mixed[:41])), "contract_address"},
		{"address not hex", all(withAddr("0x" + strings.Repeat("g", 40))), "contract_address"},
		{"bad checksum", all(withAddr(string(bad))), "checksum"},
		{"standard unspecified", all(&authv1.AccessRule{ChainId: devchain.ChainID, ContractAddress: mixed}), "standard"},
		{"1155 without token id", all(&authv1.AccessRule{ChainId: devchain.ChainID, ContractAddress: mixed, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC1155}), "token_id is required"},
		{"20 with token id", all(&authv1.AccessRule{ChainId: devchain.ChainID, ContractAddress: mixed, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC20, TokenId: &empty}), "token_id"},
		{"empty token id", all(&authv1.AccessRule{ChainId: devchain.ChainID, ContractAddress: mixed, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, TokenId: &empty}), "token_id"},
		{"negative token id", all(r721(pass, "-1", "")), "token_id"},
		{"token id too long", all(r721(pass, strings.Repeat("0", 101), "")), "token_id"},
		{"token id above uint256", all(r721(pass, "115792089237316195423570985008687907853269984665640564039457584007913129639936", "")), "uint256"},
		{"min balance 0", all(r721(pass, "", "0")), "min_balance must be >= 1"},
		{"min balance not a number", all(r20(pass, "1e18")), "min_balance"},
		{"second rule bad", all(r721(pass, "", ""), withChain(42)), "rule 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ev.Check(t.Context(), tt.policy, common.Address{1}, false)
			if !errors.Is(err, access.ErrInvalidPolicy) {
				t.Fatalf("err = %v, want ErrInvalidPolicy", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.want)
			}
			if d.Allowed {
				t.Fatal("an invalid policy was allowed")
			}
			if ev.Validate(tt.policy) == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
	// Lowercase addresses and leading zeros are accepted (as internal/policy
	// accepts and normalizes them).
	for _, ok := range []*authv1.AccessPolicy{
		all(withAddr(strings.ToLower(mixed))),
		all(withAddr("0x" + strings.ToUpper(mixed[2:]))),
		all(r721(pass, "007", "0002")),
	} {
		if err := ev.Validate(ok); err != nil {
			t.Fatalf("%v: %v", ok, err)
		}
	}
}

func TestERC165Mismatch(t *testing.T) {
	ctx := t.Context()
	token, err := dev.DeployToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, holder := newWallet(t)
	eoa := common.HexToAddress("0x000000000000000000000000000000000000dEaD")
	tests := []struct {
		name   string
		policy *authv1.AccessPolicy
		want   string
	}{
		{"721 rule on the 1155 contract", all(r721(dev.ItemsAddress(), "", "")), "rule 0: contract " + dev.ItemsAddress().Hex() + " on chain 1337 does not implement ERC-721"},
		{"1155 rule on the 721 contract", all(r1155(dev.PassAddress(), "1", "")), "does not implement ERC-1155"},
		{"721 rule on an ERC-20 (no ERC-165)", all(r721(token, "", "")), "does not implement ERC-721"},
		{"721 rule on an EOA", all(r721(eoa, "", "")), "does not implement ERC-721"},
		{"20 rule on an EOA", all(r20(eoa, "")), "does not answer ERC-20 balanceOf"},
		{"second rule misconfigured", all(r721(dev.PassAddress(), "", ""), r1155(dev.PassAddress(), "1", "")), "rule 1"},
		{"ANY still reports a misconfigured first rule", anyOf(r1155(dev.PassAddress(), "1", ""), r721(dev.PassAddress(), "", "")), "rule 0"},
	}
	ev := newEvaluator(t, newChainClient(t, dev.RPCURL(), time.Minute), access.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "second rule misconfigured" {
				if _, err := dev.Mint721(ctx, holder); err != nil {
					t.Fatal(err)
				}
			}
			d, err := ev.Check(ctx, tt.policy, holder, false)
			if !errors.Is(err, access.ErrMisconfigured) {
				t.Fatalf("err = %v, want ErrMisconfigured", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.want)
			}
			if d.Allowed {
				t.Fatal("allowed despite the error")
			}
		})
	}
}

func TestBreakerFailsClosedThenRecovers(t *testing.T) {
	ctx := t.Context()
	_, holder := newWallet(t)
	_, other := newWallet(t)
	if _, err := dev.Mint721(ctx, holder); err != nil {
		t.Fatal(err)
	}
	proxy := newSwitchableProxy(t, dev.RPCURL())
	const openFor = 700 * time.Millisecond
	client := newChainClient(t, proxy.srv.URL, openFor)
	ev := newEvaluator(t, client, access.Config{})
	policy := all(r721(dev.PassAddress(), "", ""))

	// Warm the cache for holder.
	d, err := ev.Check(ctx, policy, holder, false)
	if err != nil || !d.Allowed {
		t.Fatalf("warm-up: %+v, %v", d, err)
	}

	proxy.down.Store(true)

	// A cached decision is still served.
	d, err = ev.Check(ctx, policy, holder, false)
	if err != nil || !d.Allowed || !d.Rules[0].Cached {
		t.Fatalf("cached while down: %+v, %v; want allowed from cache", d, err)
	}
	// Nothing cached (or cache bypassed): fail closed, with Unavailable.
	for i, tc := range []struct {
		addr   common.Address
		bypass bool
	}{{other, false}, {holder, true}, {other, false}} {
		d, err := ev.Check(ctx, policy, tc.addr, tc.bypass)
		if !errors.Is(err, access.ErrUnavailable) || !errors.Is(err, chain.ErrUnavailable) {
			t.Fatalf("attempt %d: err = %v, want ErrUnavailable", i, err)
		}
		if d.Allowed {
			t.Fatalf("attempt %d: allowed while the chain is down", i)
		}
	}
	if st, _ := client.BreakerState(devchain.ChainID); st != "open" {
		t.Fatalf("breaker = %s after 3 failures, want open", st)
	}
	// Open: refused without touching the endpoint.
	before := proxy.requests.Load()
	if _, err := ev.Check(ctx, policy, other, false); !errors.Is(err, access.ErrUnavailable) {
		t.Fatalf("open breaker: err = %v, want ErrUnavailable", err)
	}
	if got := proxy.requests.Load(); got != before {
		t.Fatalf("open breaker sent %d requests to the endpoint", got-before)
	}

	// The endpoint comes back; after the open period a probe closes the breaker.
	proxy.down.Store(false)
	poll.Until(t, 15*time.Second, "breaker to let a probe through and close", func() bool {
		d, err := ev.Check(ctx, policy, other, false)
		return err == nil && !d.Allowed
	})
	if st, _ := client.BreakerState(devchain.ChainID); st != "closed" {
		t.Fatalf("breaker = %s after recovery, want closed", st)
	}
	d, err = ev.Check(ctx, policy, holder, true)
	if err != nil || !d.Allowed {
		t.Fatalf("after recovery: %+v, %v", d, err)
	}
}

func TestMixedOutageDecidesWhenItCan(t *testing.T) {
	ctx := t.Context()
	_, holder := newWallet(t)
	if _, err := dev.Mint721(ctx, holder); err != nil {
		t.Fatal(err)
	}
	up := dev.PassAddress()
	// Chain 1337 works; chain 99 points at a dead proxy.
	dead := newSwitchableProxy(t, dev.RPCURL())
	dead.down.Store(true)
	client, err := chain.New(chain.Config{
		Chains:      map[uint64]string{devchain.ChainID: dev.RPCURL(), 99: dead.srv.URL},
		CallTimeout: 2 * time.Second,
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	ev := newEvaluator(t, client, access.Config{})
	down := r721(up, "", "")
	down.ChainId = 99
	deny := r1155(dev.ItemsAddress(), "12345", "")

	tests := []struct {
		name    string
		policy  *authv1.AccessPolicy
		allowed bool
		unavail bool
	}{
		{"ANY: down rule, then a satisfied rule: allowed", anyOf(down, r721(up, "", "")), true, false},
		{"ANY: down rule, nothing else holds: unavailable", anyOf(down, deny), false, true},
		{"ALL: down rule, then an unsatisfied rule: denied", all(down, deny), false, false},
		{"ALL: down rule, the rest holds: unavailable", all(down, r721(up, "", "")), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ev.Check(ctx, tt.policy, holder, false)
			if tt.unavail {
				if !errors.Is(err, access.ErrUnavailable) || d.Allowed {
					t.Fatalf("got %+v, %v; want ErrUnavailable and not allowed", d, err)
				}
				return
			}
			if err != nil || d.Allowed != tt.allowed {
				t.Fatalf("got %+v, %v; want allowed=%v", d, err, tt.allowed)
			}
		})
	}
}

func TestCacheHitsAndTTLs(t *testing.T) {
	ctx := t.Context()
	_, holder := newWallet(t)
	_, stranger := newWallet(t)
	if _, err := dev.Mint721(ctx, holder); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	cc := &countingChain{Chain: newChainClient(t, dev.RPCURL(), time.Minute)}
	ev := newEvaluator(t, cc, access.Config{PositiveTTL: 30 * time.Second, NegativeTTL: 5 * time.Second, Now: clk.Now})
	policy := all(r721(dev.PassAddress(), "", ""))

	check := func(addr common.Address, bypass, wantAllowed, wantCached bool) {
		t.Helper()
		before := cc.calls.Load()
		d, err := ev.Check(ctx, policy, addr, bypass)
		if err != nil {
			t.Fatal(err)
		}
		calls := cc.calls.Load() - before
		if d.Allowed != wantAllowed || d.Rules[0].Cached != wantCached {
			t.Fatalf("allowed %v cached %v; want %v %v", d.Allowed, d.Rules[0].Cached, wantAllowed, wantCached)
		}
		if wantCached && calls != 0 {
			t.Fatalf("cache hit made %d chain calls, want 0", calls)
		}
		if !wantCached && calls == 0 {
			t.Fatal("cache miss made no chain calls")
		}
	}
	check(holder, false, true, false)    // miss
	check(holder, false, true, true)     // hit
	check(stranger, false, false, false) // miss (negative)
	check(stranger, false, false, true)  // negative hit
	check(holder, true, true, false)     // bypass reads the chain

	clk.Advance(6 * time.Second) // past the negative TTL, inside the positive one
	check(stranger, false, false, false)
	check(holder, false, true, true)

	clk.Advance(31 * time.Second) // past the positive TTL
	check(holder, false, true, false)

	// Invalidate drops the holder's entries.
	check(holder, false, true, true)
	ev.Invalidate(devchain.ChainID, dev.PassAddress(), holder)
	check(holder, false, true, false)
}

func TestSingleflight(t *testing.T) {
	ctx := t.Context()
	_, holder := newWallet(t)
	if _, err := dev.Mint721(ctx, holder); err != nil {
		t.Fatal(err)
	}
	gated := &gatedChain{countingChain: countingChain{Chain: newChainClient(t, dev.RPCURL(), time.Minute)}, gate: make(chan struct{})}
	cache := &countingCache{Cache: access.NewMemoryCache(nil, 0)}
	ev, err := access.NewEvaluator(access.Config{}, gated, cache, discard())
	if err != nil {
		t.Fatal(err)
	}
	policy := all(r721(dev.PassAddress(), "", ""))

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := ev.Check(ctx, policy, holder, false)
			if err == nil && !d.Allowed {
				err = errors.New("not allowed")
			}
			errs <- err
		}()
	}
	// Every caller missed the cache before the one read is let through.
	poll.Until(t, 10*time.Second, "all callers to miss the cache", func() bool { return cache.gets.Load() == n })
	close(gated.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := gated.balanceCalls.Load(); got != 1 {
		t.Fatalf("%d concurrent identical misses made %d balanceOf calls, want 1", n, got)
	}
}
