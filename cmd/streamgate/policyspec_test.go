package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
)

const (
	// specAddr is an EIP-55 address; specLower is the same in lower case.
	specAddr  = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
	specLower = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
)

// devChains is what streamgate dev lists in GetClientConfig.
var devChains = []*gatewayv1.Chain{{ChainId: 1337, Name: "StreamGate dev chain"}, {ChainId: 1, Name: "Ethereum Mainnet"}}

func devSource(context.Context) ([]*gatewayv1.Chain, error) { return devChains, nil }

func TestParseRuleSpec(t *testing.T) {
	const u256max = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
	rule := func(std authv1.TokenStandard, chain uint64, tokenID *string, minimum string) *authv1.AccessRule {
		return &authv1.AccessRule{ChainId: chain, ContractAddress: specAddr, Standard: std, TokenId: tokenID, MinBalance: minimum}
	}
	erc721, erc1155, erc20 := authv1.TokenStandard_TOKEN_STANDARD_ERC721, authv1.TokenStandard_TOKEN_STANDARD_ERC1155, authv1.TokenStandard_TOKEN_STANDARD_ERC20
	tests := []struct {
		spec    string
		want    *authv1.AccessRule
		wantErr []string // each must appear in the error
	}{
		// Valid.
		{"erc721:1337:" + specAddr, rule(erc721, 1337, nil, ""), nil},
		{"erc721:1337:" + specLower, rule(erc721, 1337, nil, ""), nil},
		{"ERC-721:1:" + strings.ToUpper(specLower[:2]) + strings.ToUpper(specLower[2:]), nil, []string{"must start with 0x"}},
		{"ERC721:1:0x" + strings.ToUpper(specLower[2:]), rule(erc721, 1, nil, ""), nil},
		{"erc721:1337:" + specAddr + ":0042", rule(erc721, 1337, proto.String("42"), ""), nil},
		{"erc721:1337:" + specAddr + ":0", rule(erc721, 1337, proto.String("0"), ""), nil},
		{"erc1155:1:" + specAddr + ":7", rule(erc1155, 1, proto.String("7"), ""), nil},
		{"erc1155:1:" + specAddr + ":7:1", rule(erc1155, 1, proto.String("7"), "1"), nil},
		{"erc1155:1:" + specAddr + ":7:25", rule(erc1155, 1, proto.String("7"), "25"), nil},
		{"erc20:1:" + specAddr + ":1000000000000000000", rule(erc20, 1, nil, "1000000000000000000"), nil},
		{"erc20:1:" + specAddr + ":" + u256max, rule(erc20, 1, nil, u256max), nil},
		{"erc721:StreamGate dev chain:" + specAddr, rule(erc721, 1337, nil, ""), nil},
		{"erc721:streamgate-dev-chain:" + specAddr, rule(erc721, 1337, nil, ""), nil},
		{"erc20:ethereum-mainnet:" + specAddr + ":5", rule(erc20, 1, nil, "5"), nil},

		// Kinds and shape.
		{"", nil, []string{`unknown token kind ""`, policySyntax}},
		{"erc777:1:" + specAddr, nil, []string{`unknown token kind "erc777"`, "want erc721, erc1155 or erc20"}},
		{"nft:1:" + specAddr, nil, []string{`unknown token kind "nft"`}},
		{"erc721", nil, []string{"erc721 takes 3 or 4 fields", "got 1", erc721Syntax}},
		{"erc721:1:" + specAddr + ":1:2", nil, []string{"erc721 takes 3 or 4 fields", "got 5"}},
		{"erc1155:1:" + specAddr, nil, []string{"erc1155 takes 4 or 5 fields", erc1155Syntax}},
		{"erc20:1:" + specAddr, nil, []string{"erc20 takes 4 fields", "got 3", erc20Syntax}},
		{"erc20:1:" + specAddr + ":1:2", nil, []string{"erc20 takes 4 fields", "got 5"}},

		// Chains.
		{"erc721::" + specAddr, nil, []string{"CHAIN is empty", erc721Syntax}},
		{"erc721:0:" + specAddr, nil, []string{"chain id 0 names no chain"}},
		{"erc721:-1:" + specAddr, nil, []string{`CHAIN "-1" is neither`}},
		{"erc721:0x539:" + specAddr, nil, []string{`CHAIN "0x539" is neither`}},
		{"erc721:18446744073709551616:" + specAddr, nil, []string{"larger than a uint64"}},
		{"erc721:polygon:" + specAddr, nil, []string{`no chain named "polygon"`, "1337 (StreamGate dev chain)", "1 (Ethereum Mainnet)"}},
		{"erc721:$(rm -rf ~):" + specAddr, nil, []string{"neither a decimal chain id nor a chain name"}},
		{"erc721:137:" + specAddr, nil, []string{"the server lists no chain 137", "1337 (StreamGate dev chain)"}},

		// Addresses.
		{"erc721:1:5FbDB2315678afecb367f032d93F642f64180aa3", nil, []string{"must start with 0x", erc721Syntax}},
		{"erc721:1:0x1234", nil, []string{`"0x1234" has 4 hex digits; an address has 40`}},
		{"erc721:1:" + specLower + "00", nil, []string{"has 42 hex digits"}},
		{"erc721:1:0x5FbDB2315678afecb367f032d93F642f64180aZ3", nil, []string{`'Z', which is not a hex digit`}},
		{"erc721:1:0x5FbDB2315678afecb367f032d93F642f64180aA3", nil, []string{"fails its EIP-55 checksum", "write it in lower case"}},
		{"erc721:1:0x", nil, []string{"has 0 hex digits"}},
		{"erc721:1:0x5fbdb2315678afecb367f032d93f642f64180a\u00e93", nil, []string{"not a hex digit"}},

		// Numbers.
		{"erc721:1:" + specAddr + ":", nil, []string{`TOKEN_ID "": empty`}},
		{"erc721:1:" + specAddr + ":-1", nil, []string{`TOKEN_ID "-1": not a decimal integer`}},
		{"erc721:1:" + specAddr + ":+1", nil, []string{"not a decimal integer"}},
		{"erc721:1:" + specAddr + ":0x10", nil, []string{"not a decimal integer"}},
		{"erc721:1:" + specAddr + ":1e3", nil, []string{"not a decimal integer"}},
		{"erc721:1:" + specAddr + ": 1", nil, []string{"not a decimal integer"}},
		{"erc721:1:" + specAddr + ":１", nil, []string{"not a decimal integer"}}, // a full-width digit
		{"erc20:1:" + specAddr + ":0", nil, []string{`MIN "0": must be at least 1`, erc20Syntax}},
		{"erc20:1:" + specAddr + ":115792089237316195423570985008687907853269984665640564039457584007913129639936", nil, []string{"larger than 2^256-1"}},
		{"erc20:1:" + specAddr + ":" + strings.Repeat("9", 200), nil, []string{"larger than 2^256-1"}},
		{"erc1155:1:" + specAddr + ":7:0", nil, []string{`MIN "0": must be at least 1`}},
		{"erc1155:1:" + specAddr + "::2", nil, []string{`TOKEN_ID "": empty`}},

		// Oversized and hostile input is refused without echoing all of it.
		{"erc721:1:" + specAddr + ":" + strings.Repeat("1", 600), nil, []string{"longer than 512 bytes"}},
		{"erc721\x1b[31m:1:" + specAddr, nil, []string{`unknown token kind "erc721\x1b[31m"`}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := parseRuleSpec(t.Context(), tt.spec, devSource)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("parseRuleSpec(%q): %v", tt.spec, err)
				}
				if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
					t.Errorf("parseRuleSpec(%q) (-want +got):\n%s", tt.spec, diff)
				}
				// What it prints reads back as the same rule.
				s, ok := formatRuleSpec(got)
				back, err := parseRuleSpec(t.Context(), s, nil)
				if !ok || err != nil || !proto.Equal(back, got) {
					t.Errorf("formatRuleSpec = %q (%v), parsed back %v (%v)", s, ok, back, err)
				}
				return
			}
			var bad badInput
			if !errors.As(err, &bad) {
				t.Fatalf("parseRuleSpec(%q) = %v, %v; want a badInput error", tt.spec, got, err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes long: the input must be clipped", len(err.Error()))
			}
		})
	}
}

func TestParseRuleSpecChainNames(t *testing.T) {
	// Without a server to ask, a name is refused as such.
	_, err := parseRuleSpec(t.Context(), "erc721:mainnet:"+specAddr, nil)
	if !errors.As(err, new(badInput)) || !strings.Contains(err.Error(), `"mainnet" is not a decimal chain id`) {
		t.Errorf("name without a resolver: %v", err)
	}
	// A server that cannot be asked is a failure for a name, not a usage
	// error; a decimal id is then left to the server's own checks.
	down := func(context.Context) ([]*gatewayv1.Chain, error) { return nil, errors.New("connection refused") }
	_, err = parseRuleSpec(t.Context(), "erc721:mainnet:"+specAddr, down)
	if err == nil || errors.As(err, new(badInput)) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("chain list failure = %v, want a plain error", err)
	}
	if _, err := parseRuleSpec(t.Context(), "erc721:10:"+specAddr, down); err != nil {
		t.Errorf("decimal chain id without the list: %v", err)
	}
}

func TestPolicyFlags(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("good.json", `{"mode":"ACCESS_MODE_ANY","rules":[{"chainId":"1337","contractAddress":"`+specLower+`","standard":"TOKEN_STANDARD_ERC721"},
		{"chain_id":1,"contract_address":"`+specAddr+`","standard":"TOKEN_STANDARD_ERC20","min_balance":"007"}]}`)
	unknownField := file("unknown.json", `{"mode":"ACCESS_MODE_ALL","rulez":[]}`)
	noMode := file("nomode.json", `{"rules":[{"chain_id":1,"contract_address":"`+specAddr+`","standard":"TOKEN_STANDARD_ERC721"}]}`)
	publicWithRules := file("pubrules.json", `{"mode":"ACCESS_MODE_PUBLIC","rules":[{"chain_id":1,"contract_address":"`+specAddr+`","standard":"TOKEN_STANDARD_ERC721"}]}`)
	erc20TokenID := file("erc20id.json", `{"mode":"ACCESS_MODE_ALL","rules":[{"chain_id":1,"contract_address":"`+specAddr+`","standard":"TOKEN_STANDARD_ERC20","token_id":"1"}]}`)
	notJSON := file("not.json", "mode: all\n")
	huge := file("huge.json", `{"mode":"ACCESS_MODE_PUBLIC"`+strings.Repeat(" ", maxPolicyFileBytes)+`}`)
	spec := "erc721:1337:" + specAddr
	seventeen := []string{}
	for range 17 {
		seventeen = append(seventeen, "--policy", spec)
	}

	erc721 := &authv1.AccessRule{ChainId: 1337, ContractAddress: specAddr, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721}
	erc20 := &authv1.AccessRule{ChainId: 1, ContractAddress: specAddr, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC20, MinBalance: "7"}
	tests := []struct {
		name    string
		args    []string
		want    *authv1.AccessPolicy
		wantErr string
	}{
		{"nothing: no policy", nil, nil, ""},
		{"one rule: all", []string{"--policy", spec}, &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{erc721}}, ""},
		{"one rule, --any", []string{"--policy", spec, "--any"}, &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, Rules: []*authv1.AccessRule{erc721}}, ""},
		{"two rules, --all", []string{"--policy", spec, "--policy", "erc20:1:" + specLower + ":7", "--all"},
			&authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{erc721, erc20}}, ""},
		{"public", []string{"--public"}, &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}, ""},
		{"free preview", []string{"--policy", spec, "--preview", "30"}, &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{erc721}, PreviewSeconds: 30}, ""},
		{"preview without a policy", []string{"--preview", "30"}, nil, "give it with --policy"},
		{"preview of a public video", []string{"--public", "--preview", "30"}, nil, "give it with --policy"},
		{"preview too long", []string{"--policy", spec, "--preview", "3601"}, nil, "want 0 to 3600"},
		{"negative preview", []string{"--policy", spec, "--preview", "-5"}, nil, "want 0 to 3600"},
		{"file, normalized", []string{"--policy-file", good},
			&authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, Rules: []*authv1.AccessRule{erc721, erc20}}, ""},

		{"two rules without --any or --all", []string{"--policy", spec, "--policy", spec}, nil, "say how they combine with --any"},
		{"--any and --all", []string{"--policy", spec, "--any", "--all"}, nil, "not both"},
		{"--any alone", []string{"--any"}, nil, "there is no --policy"},
		{"--policy and --public", []string{"--policy", spec, "--public"}, nil, "only one of"},
		{"--policy and --policy-file", []string{"--policy", spec, "--policy-file", good}, nil, "only one of"},
		{"17 rules", append(seventeen, "--any"), nil, "at most 16"},
		{"bad spec names the flag", []string{"--policy", "erc721:1:0x12"}, nil, `--policy "erc721:1:0x12": contract`},
		{"missing file", []string{"--policy-file", filepath.Join(dir, "nope.json")}, nil, "no such file"},
		{"unknown field", []string{"--policy-file", unknownField}, nil, "rulez"},
		{"no mode", []string{"--policy-file", noMode}, nil, "mode is required"},
		{"public with rules", []string{"--policy-file", publicWithRules}, nil, "no rules"},
		{"ERC-20 with a token id", []string{"--policy-file", erc20TokenID}, nil, "token_id must be unset"},
		{"not JSON", []string{"--policy-file", notJSON}, nil, "not an AccessPolicy in protobuf JSON"},
		{"huge file", []string{"--policy-file", huge}, nil, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var pf policyFlags
			pf.register(fs, true)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := pf.build(t.Context(), devSource)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
					t.Errorf("policy (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.As(err, new(badInput)) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("build = %v, %v; want a badInput error with %q", got, err, tt.wantErr)
			}
		})
	}
}

func TestSplitList(t *testing.T) {
	for in, want := range map[string][]string{"": {}, "  ": {}, "a": {"a"}, "a, b ,c": {"a", "b", "c"}} {
		got, err := splitList(in)
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("splitList(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{",", "a,,b", "a,"} {
		if _, err := splitList(in); err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("splitList(%q) = %v, want an empty-item error", in, err)
		}
	}
}

func TestFormatRuleSpecUnsayable(t *testing.T) {
	// Three tokens of an ERC-721 collection: the contract allows it, the
	// SPEC syntax does not; the policy is then printed in words only.
	r := &authv1.AccessRule{ChainId: 1, ContractAddress: specAddr, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, MinBalance: "3"}
	if _, ok := formatRuleSpec(r); ok {
		t.Error("formatRuleSpec claims to say an ERC-721 minimum of 3")
	}
}
