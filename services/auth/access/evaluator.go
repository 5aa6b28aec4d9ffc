// Package access evaluates StreamGate access policies (ERC-721, ERC-1155 and
// ERC-20 holdings combined with ALL or ANY) against the chain, caches the
// observations behind a small Cache interface, and watches token transfers
// to invalidate them. It fails closed: when a chain cannot be reached and
// nothing fresh is cached, Check returns ErrUnavailable, never allowed.
package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/sync/singleflight"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/services/auth/chain"
)

// Chain is what the Evaluator reads; *chain.Client implements it. block 0
// means latest. Errors unwrap to chain.ErrUnavailable, chain.ErrReverted or
// chain.ErrBadResponse.
type Chain interface {
	HasChain(chainID uint64) bool
	HeadBlock(ctx context.Context, chainID uint64) (uint64, error)
	SupportsInterface(ctx context.Context, chainID uint64, contract common.Address, id [4]byte, block uint64) (bool, error)
	ERC20BalanceOf(ctx context.Context, chainID uint64, contract, holder common.Address, block uint64) (*big.Int, error)
	ERC721BalanceOf(ctx context.Context, chainID uint64, contract, holder common.Address, block uint64) (*big.Int, error)
	ERC721OwnerOf(ctx context.Context, chainID uint64, contract common.Address, tokenID *big.Int, block uint64) (common.Address, error)
	ERC1155BalanceOf(ctx context.Context, chainID uint64, contract, holder common.Address, id *big.Int, block uint64) (*big.Int, error)
}

// Config tunes the Evaluator. Zero values get the defaults.
type Config struct {
	// PositiveTTL is how long a satisfied rule is served from cache.
	// Default 30s.
	PositiveTTL time.Duration
	// NegativeTTL is how long an unsatisfied rule is served from cache.
	// Default 5s; must not exceed PositiveTTL.
	NegativeTTL time.Duration
	// InterfaceTTL is how long an ERC-165 answer is remembered per
	// contract. Default 10m.
	InterfaceTTL time.Duration
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

func (c *Config) validate() error {
	if c.PositiveTTL <= 0 {
		c.PositiveTTL = 30 * time.Second
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = 5 * time.Second
	}
	if c.NegativeTTL > c.PositiveTTL {
		return fmt.Errorf("access: config: NegativeTTL %v exceeds PositiveTTL %v", c.NegativeTTL, c.PositiveTTL)
	}
	if c.InterfaceTTL <= 0 {
		c.InterfaceTTL = 10 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Decision is the outcome of a policy.
type Decision struct {
	Allowed bool
	// Rules holds the result of each rule evaluated, in rule order. Rules
	// are evaluated in order and evaluation stops once the outcome is
	// decided (ANY: at the first satisfied rule; ALL: at the first
	// unsatisfied one), so later rules may be absent. Empty for PUBLIC.
	Rules []RuleResult
}

// RuleResult is the outcome of one rule.
type RuleResult struct {
	Index     int
	Satisfied bool
	// Balance read from the chain (1 or 0 for an ERC-721 ownerOf check).
	Balance     *big.Int
	BlockNumber uint64
	// Cached is true when the observation came from the cache.
	Cached    bool
	CheckedAt time.Time
}

// ContractRef is a token contract on a chain.
type ContractRef struct {
	ChainID  uint64
	Contract common.Address
}

// Evaluator evaluates access policies. Safe for concurrent use.
type Evaluator struct {
	cfg    Config
	chain  Chain
	cache  Cache
	logger *slog.Logger
	group  singleflight.Group
	addrs  *checksumMemo

	ifaceMu sync.Mutex
	ifaces  map[ifaceKey]ifaceEntry

	seenMu sync.Mutex
	seen   map[ContractRef]struct{} // ERC-721/1155 contracts policies used
}

type ifaceKey struct {
	chainID  uint64
	contract common.Address
	id       [4]byte
}

type ifaceEntry struct {
	ok      bool
	expires time.Time
}

// NewEvaluator builds an Evaluator. cache may be nil: an in-process
// MemoryCache is used.
func NewEvaluator(cfg Config, ch Chain, cache Cache, logger *slog.Logger) (*Evaluator, error) {
	if ch == nil {
		return nil, errors.New("access: nil chain")
	}
	if logger == nil {
		return nil, errors.New("access: nil logger")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cache == nil {
		cache = NewMemoryCache(cfg.Now, time.Minute)
	}
	return &Evaluator{
		cfg:    cfg,
		chain:  ch,
		cache:  cache,
		logger: logger,
		addrs:  newChecksumMemo(),
		ifaces: make(map[ifaceKey]ifaceEntry),
		seen:   make(map[ContractRef]struct{}),
	}, nil
}

// Validate checks a policy without touching the chain.
func (e *Evaluator) Validate(policy *authv1.AccessPolicy) error {
	_, _, err := parsePolicy(policy, e.chain.HasChain, e.addrs)
	return err
}

// Check evaluates policy for address. bypassCache skips cached observations
// (the fresh ones are still stored). Errors wrap ErrInvalidPolicy,
// ErrMisconfigured or ErrUnavailable; on error the decision is not allowed.
func (e *Evaluator) Check(ctx context.Context, policy *authv1.AccessPolicy, address common.Address, bypassCache bool) (Decision, error) {
	mode, rules, err := parsePolicy(policy, e.chain.HasChain, e.addrs)
	if err != nil {
		return Decision{}, err
	}
	if mode == authv1.AccessMode_ACCESS_MODE_PUBLIC {
		return Decision{Allowed: true}, nil
	}
	anyMode := mode == authv1.AccessMode_ACCESS_MODE_ANY
	d := Decision{Rules: make([]RuleResult, 0, len(rules))}
	var unavailable error // first unreachable rule, in order
	for i := range rules {
		r := &rules[i]
		res, err := e.evalRule(ctx, r, address, bypassCache)
		if err != nil {
			if errors.Is(err, ErrUnavailable) {
				// Keep going: a later rule may decide the outcome without
				// this one (ANY: a satisfied rule; ALL: an unsatisfied one).
				if unavailable == nil {
					unavailable = err
				}
				continue
			}
			return Decision{}, err
		}
		d.Rules = append(d.Rules, res)
		if anyMode && res.Satisfied {
			d.Allowed = true
			return d, nil
		}
		if !anyMode && !res.Satisfied {
			return d, nil
		}
	}
	if unavailable != nil {
		return Decision{}, unavailable
	}
	d.Allowed = !anyMode // ALL: every rule held; ANY: none did
	return d, nil
}

// Invalidate drops the cached observations of addresses for contract on
// chainID.
func (e *Evaluator) Invalidate(chainID uint64, contract common.Address, addresses ...common.Address) {
	e.cache.Invalidate(context.Background(), chainID, contract, 0, addresses...)
}

// invalidateAt is Invalidate for a transfer seen at block: reads older than
// block that finish later are not cached.
func (e *Evaluator) invalidateAt(ctx context.Context, chainID uint64, contract common.Address, block uint64, addresses ...common.Address) {
	e.cache.Invalidate(ctx, chainID, contract, block, addresses...)
}

// SeenContracts returns the ERC-721 and ERC-1155 contracts that policies
// checked so far named (the watcher follows their transfers).
func (e *Evaluator) SeenContracts() []ContractRef {
	e.seenMu.Lock()
	defer e.seenMu.Unlock()
	out := make([]ContractRef, 0, len(e.seen))
	for c := range e.seen {
		out = append(out, c)
	}
	return out
}

// Follow records the ERC-721 and ERC-1155 contracts policy names as seen,
// as a check of it would, so that the watcher follows their transfers
// before any check names them: auth hands it the policies of its stored
// grants when it starts. It returns the policy's error if it is invalid.
func (e *Evaluator) Follow(policy *authv1.AccessPolicy) error {
	_, rules, err := parsePolicy(policy, e.chain.HasChain, e.addrs)
	if err != nil {
		return err
	}
	for i := range rules {
		e.remember(&rules[i])
	}
	return nil
}

func (e *Evaluator) remember(r *rule) {
	if r.standard == authv1.TokenStandard_TOKEN_STANDARD_ERC20 {
		return
	}
	ref := ContractRef{r.chainID, r.contract}
	e.seenMu.Lock()
	if _, ok := e.seen[ref]; !ok {
		e.seen[ref] = struct{}{}
	}
	e.seenMu.Unlock()
}

func keyOf(r *rule, holder common.Address) Key {
	k := Key{ChainID: r.chainID, Contract: r.contract, Standard: r.standard, Holder: holder}
	if r.tokenID != nil {
		k.TokenID = r.tokenID.String()
	}
	return k
}

func (e *Evaluator) fresh(r *rule, o Observation) (bool, bool) {
	sat := r.satisfiedBy(o.Balance)
	ttl := e.cfg.NegativeTTL
	if sat {
		ttl = e.cfg.PositiveTTL
	}
	return sat, e.cfg.Now().Sub(o.CheckedAt) < ttl
}

func (e *Evaluator) evalRule(ctx context.Context, r *rule, holder common.Address, bypass bool) (RuleResult, error) {
	e.remember(r)
	k := keyOf(r, holder)
	if !bypass {
		if o, ok := e.cache.Get(ctx, k); ok {
			if sat, fresh := e.fresh(r, o); fresh {
				return RuleResult{Index: r.index, Satisfied: sat, Balance: o.Balance,
					BlockNumber: o.BlockNumber, Cached: true, CheckedAt: o.CheckedAt}, nil
			}
		}
	}
	// Identical concurrent misses share one chain read. The read must not
	// die with the first caller's context.
	sfKey := sfKeyOf(k)
	ch := e.group.DoChan(sfKey, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		o, err := e.read(rctx, r, holder)
		if err != nil {
			return nil, err
		}
		e.cache.Put(rctx, k, o, e.cfg.PositiveTTL)
		return o, nil
	})
	var res singleflight.Result
	select {
	case <-ctx.Done():
		return RuleResult{}, ctx.Err()
	case res = <-ch:
	}
	if res.Err != nil {
		return RuleResult{}, res.Err
	}
	o := res.Val.(Observation)
	return RuleResult{Index: r.index, Satisfied: r.satisfiedBy(o.Balance), Balance: o.Balance,
		BlockNumber: o.BlockNumber, CheckedAt: o.CheckedAt}, nil
}

func sfKeyOf(k Key) string {
	return strconv.FormatUint(k.ChainID, 10) + "/" + k.Contract.Hex() + "/" +
		strconv.Itoa(int(k.Standard)) + "/" + k.TokenID + "/" + k.Holder.Hex()
}

// read asks the chain, at its current head, for the rule's observation.
func (e *Evaluator) read(ctx context.Context, r *rule, holder common.Address) (Observation, error) {
	head, err := e.chain.HeadBlock(ctx, r.chainID)
	if err != nil {
		return Observation{}, e.chainErr(r, "read head block", err)
	}
	if err := e.checkInterface(ctx, r, head); err != nil {
		return Observation{}, err
	}
	var bal *big.Int
	switch r.standard {
	case authv1.TokenStandard_TOKEN_STANDARD_ERC721:
		if r.tokenID != nil {
			owner, err := e.chain.ERC721OwnerOf(ctx, r.chainID, r.contract, r.tokenID, head)
			switch {
			case errors.Is(err, chain.ErrReverted):
				bal = big.NewInt(0) // no such token: nobody owns it
			case err != nil:
				return Observation{}, e.chainErr(r, "ownerOf", err)
			case owner == holder:
				bal = big.NewInt(1)
			default:
				bal = big.NewInt(0)
			}
		} else if bal, err = e.chain.ERC721BalanceOf(ctx, r.chainID, r.contract, holder, head); err != nil {
			return Observation{}, e.chainErr(r, "ERC-721 balanceOf", err)
		}
	case authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
		if bal, err = e.chain.ERC1155BalanceOf(ctx, r.chainID, r.contract, holder, r.tokenID, head); err != nil {
			return Observation{}, e.chainErr(r, "ERC-1155 balanceOf", err)
		}
	case authv1.TokenStandard_TOKEN_STANDARD_ERC20:
		if bal, err = e.chain.ERC20BalanceOf(ctx, r.chainID, r.contract, holder, head); err != nil {
			return Observation{}, e.chainErr(r, "ERC-20 balanceOf", err)
		}
	default:
		return Observation{}, invalid(r.index, "standard %v", r.standard) // parsePolicy rejects it first
	}
	return Observation{Balance: bal, BlockNumber: head, CheckedAt: e.cfg.Now()}, nil
}

// chainErr maps a chain error to ErrUnavailable or ErrMisconfigured.
func (e *Evaluator) chainErr(r *rule, op string, err error) error {
	if errors.Is(err, chain.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: rule %d: chain %d: %s: %w", ErrUnavailable, r.index, r.chainID, op, err)
	}
	if errors.Is(err, chain.ErrReverted) || errors.Is(err, chain.ErrBadResponse) {
		return fmt.Errorf("%w: rule %d: contract %s on chain %d does not answer %s as %s: %w",
			ErrMisconfigured, r.index, r.contract.Hex(), r.chainID, op, standardName(r.standard), err)
	}
	return fmt.Errorf("access: rule %d: %s: %w", r.index, op, err)
}

func standardName(s authv1.TokenStandard) string {
	switch s {
	case authv1.TokenStandard_TOKEN_STANDARD_ERC721:
		return "ERC-721"
	case authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
		return "ERC-1155"
	case authv1.TokenStandard_TOKEN_STANDARD_ERC20:
		return "ERC-20"
	}
	return s.String()
}

// checkInterface verifies with ERC-165 that the contract implements the
// rule's standard. ERC-20 has no ERC-165 id and is not checked (a contract
// that does not answer balanceOf is caught by the call itself).
func (e *Evaluator) checkInterface(ctx context.Context, r *rule, block uint64) error {
	var id [4]byte
	switch r.standard {
	case authv1.TokenStandard_TOKEN_STANDARD_ERC721:
		id = chain.InterfaceERC721
	case authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
		id = chain.InterfaceERC1155
	default:
		return nil
	}
	k := ifaceKey{r.chainID, r.contract, id}
	now := e.cfg.Now()
	e.ifaceMu.Lock()
	ent, ok := e.ifaces[k]
	e.ifaceMu.Unlock()
	if !ok || !now.Before(ent.expires) {
		supported, err := e.chain.SupportsInterface(ctx, r.chainID, r.contract, id, block)
		if err != nil {
			return e.chainErr(r, "supportsInterface", err)
		}
		ttl := e.cfg.InterfaceTTL
		if !supported {
			ttl = e.cfg.NegativeTTL // a fixed policy or upgraded contract is noticed soon
		}
		ent = ifaceEntry{ok: supported, expires: now.Add(ttl)}
		e.ifaceMu.Lock()
		e.ifaces[k] = ent
		e.ifaceMu.Unlock()
	}
	if !ent.ok {
		return fmt.Errorf("%w: rule %d: contract %s on chain %d does not implement %s (ERC-165 supportsInterface(0x%x) is false)",
			ErrMisconfigured, r.index, r.contract.Hex(), r.chainID, standardName(r.standard), id[:])
	}
	return nil
}
