// Package policy checks streamgate.auth.v1.AccessPolicy values: the shape
// rules the contract states (mode, 1 to 16 rules, chain id, contract address,
// token standard, token id and minimum balance). Metadata checks a policy
// when a video is created or updated, upload when an upload is created, and
// auth before it evaluates one, so all three agree on what is valid.
//
// Whether a chain id is one auth is configured for is not checked here: that
// depends on auth's configuration, not on the policy.
package policy

import (
	"errors"
	"fmt"
	"math/big"

	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/identity"
)

// MaxRules is the most rules a policy may hold.
const MaxRules = 16

// MaxPreviewSeconds bounds a free preview: an hour.
const MaxPreviewSeconds = 3600

// ErrInvalid is wrapped by every error Validate and Normalize return.
var ErrInvalid = errors.New("invalid access policy")

// maxUint256 is 2^256 - 1.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// Validate reports whether p is a valid policy. A nil policy is valid: it
// means public.
func Validate(p *authv1.AccessPolicy) error {
	_, err := Normalize(p)
	return err
}

// Normalize validates p and returns a normalized copy: contract addresses in
// EIP-55 form, token ids and balances as canonical decimals (no leading
// zeros). p is not modified. A nil policy gives nil.
func Normalize(p *authv1.AccessPolicy) (*authv1.AccessPolicy, error) {
	if p == nil {
		return nil, nil
	}
	out := proto.CloneOf(p)
	switch p.GetMode() {
	case authv1.AccessMode_ACCESS_MODE_PUBLIC:
		if len(p.GetRules()) != 0 {
			return nil, invalid("a public policy must have no rules, got %d", len(p.GetRules()))
		}
		if p.GetPreviewSeconds() != 0 {
			return nil, invalid("a public policy has no preview (everyone watches it all), got preview_seconds %d", p.GetPreviewSeconds())
		}
		return out, nil
	case authv1.AccessMode_ACCESS_MODE_ALL, authv1.AccessMode_ACCESS_MODE_ANY:
	case authv1.AccessMode_ACCESS_MODE_UNSPECIFIED:
		return nil, invalid("mode is required")
	default:
		return nil, invalid("unknown mode %d", p.GetMode())
	}
	if p.GetPreviewSeconds() > MaxPreviewSeconds {
		return nil, invalid("preview_seconds %d is over %d", p.GetPreviewSeconds(), MaxPreviewSeconds)
	}
	n := len(p.GetRules())
	if n < 1 || n > MaxRules {
		return nil, invalid("a gated policy needs 1 to %d rules, got %d", MaxRules, n)
	}
	for i, r := range out.GetRules() {
		if err := normalizeRule(r); err != nil {
			return nil, fmt.Errorf("%w: rule %d: %s", ErrInvalid, i, err)
		}
	}
	return out, nil
}

// Gated reports whether p restricts who may watch: it is set and its mode is
// not public.
func Gated(p *authv1.AccessPolicy) bool {
	return p != nil && p.GetMode() != authv1.AccessMode_ACCESS_MODE_PUBLIC
}

func normalizeRule(r *authv1.AccessRule) error {
	if r == nil {
		return errors.New("rule is empty")
	}
	if r.GetChainId() == 0 {
		return errors.New("chain_id is required")
	}
	addr, err := identity.NormalizeAddress(r.GetContractAddress())
	if err != nil {
		return fmt.Errorf("contract_address %q: %v", clip(r.GetContractAddress()), err)
	}
	r.ContractAddress = addr
	switch r.GetStandard() {
	case authv1.TokenStandard_TOKEN_STANDARD_ERC721:
		// token_id optional.
	case authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
		if r.TokenId == nil {
			return errors.New("token_id is required for ERC-1155")
		}
	case authv1.TokenStandard_TOKEN_STANDARD_ERC20:
		if r.TokenId != nil {
			return errors.New("token_id must be unset for ERC-20")
		}
	case authv1.TokenStandard_TOKEN_STANDARD_UNSPECIFIED:
		return errors.New("standard is required")
	default:
		return fmt.Errorf("unknown standard %d", r.GetStandard())
	}
	if r.TokenId != nil {
		v, err := parseUint256(r.GetTokenId())
		if err != nil {
			return fmt.Errorf("token_id: %v", err)
		}
		s := v.String()
		r.TokenId = &s
	}
	if r.GetMinBalance() != "" {
		v, err := parseUint256(r.GetMinBalance())
		if err != nil {
			return fmt.Errorf("min_balance: %v", err)
		}
		if v.Sign() < 1 {
			return errors.New("min_balance must be at least 1")
		}
		r.MinBalance = v.String()
	}
	return nil
}

// parseUint256 accepts decimal digits only (no sign, no spaces, no 0x) up to
// 2^256 - 1.
func parseUint256(s string) (*big.Int, error) {
	if s == "" {
		return nil, errors.New("empty; want a decimal integer")
	}
	if len(s) > 100 {
		return nil, errors.New("larger than a uint256")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%q is not a decimal integer", clip(s))
		}
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal integer", clip(s))
	}
	if v.Cmp(maxUint256) > 0 {
		return nil, errors.New("larger than a uint256")
	}
	return v, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// clip shortens user input quoted in an error.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
