package access

import (
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

// MaxRules is the most rules a policy may hold.
const MaxRules = 16

// maxUint256 bounds token ids and balances.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// rule is a validated AccessRule.
type rule struct {
	index    int
	chainID  uint64
	contract common.Address
	standard authv1.TokenStandard
	tokenID  *big.Int // nil: unset
	min      *big.Int // >= 1
}

// ownerCheck reports whether the rule is an ERC-721 ownerOf(token_id) check.
func (r *rule) ownerCheck() bool {
	return r.standard == authv1.TokenStandard_TOKEN_STANDARD_ERC721 && r.tokenID != nil
}

// satisfiedBy applies the rule's threshold to an observed balance (for an
// ownerOf check the balance is 1 when the address owns the token, else 0).
func (r *rule) satisfiedBy(balance *big.Int) bool {
	if r.ownerCheck() {
		return balance.Sign() > 0
	}
	return balance.Cmp(r.min) >= 0
}

func invalid(index int, format string, args ...any) error {
	return fmt.Errorf("%w: rule %d: %s", ErrInvalidPolicy, index, fmt.Sprintf(format, args...))
}

// parsePolicy validates p. known reports whether a chain id is configured;
// memo (may be nil) speeds up repeated EIP-55 checks.
func parsePolicy(p *authv1.AccessPolicy, known func(uint64) bool, memo *checksumMemo) (authv1.AccessMode, []rule, error) {
	if p == nil {
		return 0, nil, fmt.Errorf("%w: no policy", ErrInvalidPolicy)
	}
	mode := p.GetMode()
	switch mode {
	case authv1.AccessMode_ACCESS_MODE_PUBLIC:
		if len(p.GetRules()) != 0 {
			return 0, nil, fmt.Errorf("%w: a public policy must have no rules, got %d", ErrInvalidPolicy, len(p.GetRules()))
		}
		return mode, nil, nil
	case authv1.AccessMode_ACCESS_MODE_ALL, authv1.AccessMode_ACCESS_MODE_ANY:
	default:
		return 0, nil, fmt.Errorf("%w: mode %v is not PUBLIC, ALL or ANY", ErrInvalidPolicy, mode)
	}
	n := len(p.GetRules())
	if n == 0 || n > MaxRules {
		return 0, nil, fmt.Errorf("%w: %v needs 1 to %d rules, got %d", ErrInvalidPolicy, mode, MaxRules, n)
	}
	rules := make([]rule, n)
	for i, pr := range p.GetRules() {
		r, err := parseRule(i, pr, known, memo)
		if err != nil {
			return 0, nil, err
		}
		rules[i] = r
	}
	return mode, rules, nil
}

func parseRule(i int, pr *authv1.AccessRule, known func(uint64) bool, memo *checksumMemo) (rule, error) {
	r := rule{index: i}
	if pr == nil {
		return r, invalid(i, "empty rule")
	}
	r.chainID = pr.GetChainId()
	if r.chainID == 0 || !known(r.chainID) {
		return r, invalid(i, "chain %d is not configured", r.chainID)
	}
	addr, err := parseAddress(pr.GetContractAddress(), memo)
	if err != nil {
		return r, invalid(i, "contract_address: %v", err)
	}
	r.contract = addr
	r.standard = pr.GetStandard()
	if pr.TokenId != nil {
		id, err := parseUint256(pr.GetTokenId())
		if err != nil {
			return r, invalid(i, "token_id: %v", err)
		}
		r.tokenID = id
	}
	switch r.standard {
	case authv1.TokenStandard_TOKEN_STANDARD_ERC721:
	case authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
		if r.tokenID == nil {
			return r, invalid(i, "token_id is required for ERC-1155")
		}
	case authv1.TokenStandard_TOKEN_STANDARD_ERC20:
		if r.tokenID != nil {
			return r, invalid(i, "token_id must be unset for ERC-20")
		}
	default:
		return r, invalid(i, "standard %v is not ERC721, ERC1155 or ERC20", r.standard)
	}
	r.min = big.NewInt(1)
	if s := pr.GetMinBalance(); s != "" {
		m, err := parseUint256(s)
		if err != nil {
			return r, invalid(i, "min_balance: %v", err)
		}
		if m.Sign() == 0 {
			return r, invalid(i, "min_balance must be >= 1")
		}
		r.min = m
	}
	return r, nil
}

// ParseAddress parses a 0x-prefixed, 40-hex-digit address. All-lowercase
// (or all-uppercase) hex is accepted; mixed case must be a valid EIP-55
// checksum.
func ParseAddress(s string) (common.Address, error) {
	return parseAddress(s, nil)
}

// parseAddress is ParseAddress with an optional memo of valid checksums.
func parseAddress(s string, memo *checksumMemo) (common.Address, error) {
	if len(s) != 42 || !strings.HasPrefix(s, "0x") || !common.IsHexAddress(s) {
		return common.Address{}, fmt.Errorf("%q is not 0x followed by 40 hex digits", truncate(s))
	}
	addr := common.HexToAddress(s)
	if mixedCase(s[2:]) && !memo.ok(s, addr) {
		return common.Address{}, fmt.Errorf("%q fails its EIP-55 checksum", s)
	}
	return addr, nil
}

func mixedCase(hex string) (mixed bool) {
	var lower, upper bool
	for i := 0; i < len(hex); i++ {
		switch c := hex[i]; {
		case c >= 'a' && c <= 'f':
			lower = true
		case c >= 'A' && c <= 'F':
			upper = true
		}
	}
	return lower && upper
}

// checksumMemo remembers mixed-case addresses already found valid: policies
// name few contracts, and the EIP-55 check (a Keccak-256) is most of the cost
// of parsing a policy on the cache-hit path. Bounded; reset when full.
type checksumMemo struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

const checksumMemoMax = 4096

func newChecksumMemo() *checksumMemo { return &checksumMemo{m: make(map[string]struct{})} }

// ok reports whether s is addr's EIP-55 form. A nil memo just checks.
func (c *checksumMemo) ok(s string, addr common.Address) bool {
	if c == nil {
		return addr.Hex() == s
	}
	c.mu.RLock()
	_, hit := c.m[s]
	c.mu.RUnlock()
	if hit {
		return true
	}
	if addr.Hex() != s {
		return false
	}
	c.mu.Lock()
	if len(c.m) >= checksumMemoMax {
		clear(c.m)
	}
	c.m[s] = struct{}{}
	c.mu.Unlock()
	return true
}

// parseUint256 parses a decimal uint256: digits only (no sign, spaces or
// 0x), leading zeros allowed, as internal/policy accepts and normalizes.
func parseUint256(s string) (*big.Int, error) {
	if s == "" || len(s) > 100 {
		return nil, fmt.Errorf("%q is not a decimal uint256", truncate(s))
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%q is not a decimal uint256", truncate(s))
		}
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Cmp(maxUint256) > 0 {
		return nil, fmt.Errorf("%q is out of the uint256 range", truncate(s))
	}
	return v, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
