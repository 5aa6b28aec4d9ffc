package policy_test

import (
	"errors"
	"strings"
	"testing"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/policy"
)

const addr = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

func ptr(s string) *string { return &s }

func rule(mut func(r *authv1.AccessRule)) *authv1.AccessRule {
	r := &authv1.AccessRule{ChainId: 1337, ContractAddress: addr, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721}
	if mut != nil {
		mut(r)
	}
	return r
}

func gated(rules ...*authv1.AccessRule) *authv1.AccessPolicy {
	return &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, Rules: rules}
}

func withPreview(p *authv1.AccessPolicy, seconds uint32) *authv1.AccessPolicy {
	p.PreviewSeconds = seconds
	return p
}

func TestValidate(t *testing.T) {
	many := make([]*authv1.AccessRule, policy.MaxRules+1)
	for i := range many {
		many[i] = rule(nil)
	}
	tests := []struct {
		name    string
		p       *authv1.AccessPolicy
		wantErr string
	}{
		{"nil is public", nil, ""},
		{"public", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}, ""},
		{"public with rules", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC, Rules: []*authv1.AccessRule{rule(nil)}}, "no rules"},
		{"unspecified mode", &authv1.AccessPolicy{Rules: []*authv1.AccessRule{rule(nil)}}, "mode is required"},
		{"unknown mode", &authv1.AccessPolicy{Mode: 9, Rules: []*authv1.AccessRule{rule(nil)}}, "unknown mode"},
		{"no rules", gated(), "1 to 16"},
		{"too many rules", gated(many...), "1 to 16"},
		{"max rules", gated(many[:policy.MaxRules]...), ""},
		{"preview", withPreview(gated(rule(nil)), 30), ""},
		{"longest preview", withPreview(gated(rule(nil)), policy.MaxPreviewSeconds), ""},
		{"preview too long", withPreview(gated(rule(nil)), policy.MaxPreviewSeconds+1), "preview_seconds 3601 is over 3600"},
		{"public with preview", withPreview(&authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}, 10), "no preview"},
		{"nil rule", gated(nil), "chain_id"},
		{"erc721 any token", gated(rule(nil)), ""},
		{"erc721 token id", gated(rule(func(r *authv1.AccessRule) { r.TokenId = ptr("42") })), ""},
		{"lowercase address", gated(rule(func(r *authv1.AccessRule) { r.ContractAddress = strings.ToLower(addr) })), ""},
		{"bad checksum", gated(rule(func(r *authv1.AccessRule) { r.ContractAddress = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" })), "checksum"},
		{"no 0x", gated(rule(func(r *authv1.AccessRule) { r.ContractAddress = addr[2:] })), "contract_address"},
		{"short address", gated(rule(func(r *authv1.AccessRule) { r.ContractAddress = "0x1234" })), "contract_address"},
		{"sql in address", gated(rule(func(r *authv1.AccessRule) { r.ContractAddress = "0x'; DROP TABLE videos; --" })), "contract_address"},
		{"zero chain", gated(rule(func(r *authv1.AccessRule) { r.ChainId = 0 })), "chain_id"},
		{"no standard", gated(rule(func(r *authv1.AccessRule) { r.Standard = 0 })), "standard is required"},
		{"unknown standard", gated(rule(func(r *authv1.AccessRule) { r.Standard = 7 })), "unknown standard"},
		{"erc1155 without id", gated(rule(func(r *authv1.AccessRule) { r.Standard = authv1.TokenStandard_TOKEN_STANDARD_ERC1155 })), "required for ERC-1155"},
		{"erc1155 with id", gated(rule(func(r *authv1.AccessRule) {
			r.Standard = authv1.TokenStandard_TOKEN_STANDARD_ERC1155
			r.TokenId = ptr("0")
		})), ""},
		{"erc20 with id", gated(rule(func(r *authv1.AccessRule) {
			r.Standard = authv1.TokenStandard_TOKEN_STANDARD_ERC20
			r.TokenId = ptr("1")
		})), "must be unset"},
		{"erc20 balance", gated(rule(func(r *authv1.AccessRule) {
			r.Standard = authv1.TokenStandard_TOKEN_STANDARD_ERC20
			r.MinBalance = "1000000000000000000"
		})), ""},
		{"zero balance", gated(rule(func(r *authv1.AccessRule) { r.MinBalance = "0" })), "at least 1"},
		{"negative balance", gated(rule(func(r *authv1.AccessRule) { r.MinBalance = "-1" })), "not a decimal"},
		{"hex balance", gated(rule(func(r *authv1.AccessRule) { r.MinBalance = "0x10" })), "not a decimal"},
		{"spaced balance", gated(rule(func(r *authv1.AccessRule) { r.MinBalance = " 1" })), "not a decimal"},
		{"uint256 max", gated(rule(func(r *authv1.AccessRule) {
			r.MinBalance = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
		})), ""},
		{"uint256 overflow", gated(rule(func(r *authv1.AccessRule) {
			r.MinBalance = "115792089237316195423570985008687907853269984665640564039457584007913129639936"
		})), "uint256"},
		{"huge token id", gated(rule(func(r *authv1.AccessRule) { r.TokenId = ptr(strings.Repeat("9", 5000)) })), "uint256"},
		{"empty token id", gated(rule(func(r *authv1.AccessRule) { r.TokenId = ptr("") })), "token_id"},
		{"nul in token id", gated(rule(func(r *authv1.AccessRule) { r.TokenId = ptr("1\x00") })), "token_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := policy.Validate(tt.p)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("Validate: %v, want an ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	in := gated(rule(func(r *authv1.AccessRule) {
		r.ContractAddress = strings.ToLower(addr)
		r.TokenId = ptr("007")
		r.MinBalance = "0010"
	}))
	out, err := policy.Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	r := out.GetRules()[0]
	if r.GetContractAddress() != addr || r.GetTokenId() != "7" || r.GetMinBalance() != "10" {
		t.Errorf("got %s %s %s, want %s 7 10", r.GetContractAddress(), r.GetTokenId(), r.GetMinBalance(), addr)
	}
	if in.GetRules()[0].GetTokenId() != "007" {
		t.Error("Normalize modified its input")
	}
	if !policy.Gated(out) || policy.Gated(nil) || policy.Gated(&authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}) {
		t.Error("Gated is wrong")
	}
}
