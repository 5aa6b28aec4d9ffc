package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/protobuf/encoding/protojson"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	"github.com/streamgate/streamgate/internal/policy"
)

// The --policy SPEC syntax: one on-chain condition in one shell word.
const (
	erc721Syntax  = "erc721:CHAIN:0xCONTRACT[:TOKEN_ID]"
	erc1155Syntax = "erc1155:CHAIN:0xCONTRACT:TOKEN_ID[:MIN]"
	erc20Syntax   = "erc20:CHAIN:0xCONTRACT:MIN"
	// policySyntax is what the usage text and errors show.
	policySyntax = erc721Syntax + " | " + erc1155Syntax + " | " + erc20Syntax
)

// maxSpecBytes bounds a SPEC: the longest valid one (two uint256s, a name)
// is far shorter, and errors quote the input.
const maxSpecBytes = 512

// maxPolicyFileBytes bounds a --policy-file read: 16 rules fit in a few KiB.
const maxPolicyFileBytes = 1 << 20

// maxUint256 is 2^256 - 1, the largest token id or balance.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// badInput is a mistake in what the user typed (a flag value, a policy
// file): the command reports it and exits 2.
type badInput struct{ error }

func (b badInput) Unwrap() error { return b.error }

func badf(format string, a ...any) error { return badInput{fmt.Errorf(format, a...)} }

// chainSource returns the chains the server lists (GetClientConfig), to
// resolve chain names and check chain ids.
type chainSource func(ctx context.Context) ([]*gatewayv1.Chain, error)

// parseRuleSpec parses one SPEC into an access rule (contract address in
// EIP-55 form, numbers canonical). Every error is a badInput naming the
// field that is wrong and the syntax of the kind.
func parseRuleSpec(ctx context.Context, spec string, chains chainSource) (*authv1.AccessRule, error) {
	if len(spec) > maxSpecBytes {
		return nil, badf("longer than %d bytes; want %s", maxSpecBytes, policySyntax)
	}
	parts := strings.Split(spec, ":")
	var r authv1.AccessRule
	var syntax string
	minParts, maxParts := 0, 0
	switch strings.ToLower(parts[0]) {
	case "erc721", "erc-721":
		r.Standard, syntax, minParts, maxParts = authv1.TokenStandard_TOKEN_STANDARD_ERC721, erc721Syntax, 3, 4
	case "erc1155", "erc-1155":
		r.Standard, syntax, minParts, maxParts = authv1.TokenStandard_TOKEN_STANDARD_ERC1155, erc1155Syntax, 4, 5
	case "erc20", "erc-20":
		r.Standard, syntax, minParts, maxParts = authv1.TokenStandard_TOKEN_STANDARD_ERC20, erc20Syntax, 4, 4
	default:
		return nil, badf("unknown token kind %q: want erc721, erc1155 or erc20 (%s)", clipInput(parts[0]), policySyntax)
	}
	if len(parts) < minParts || len(parts) > maxParts {
		want := strconv.Itoa(minParts)
		if maxParts > minParts {
			want += " or " + strconv.Itoa(maxParts)
		}
		return nil, badf("%s takes %s fields separated by ':', got %d; want %s", parts[0], want, len(parts), syntax)
	}
	chain, err := parseChain(ctx, parts[1], chains)
	if err != nil {
		var b badInput
		if !errors.As(err, &b) {
			return nil, err // the server could not be asked: not a usage error
		}
		return nil, badf("%v; want %s", err, syntax)
	}
	r.ChainId = chain
	if r.ContractAddress, err = checkContract(parts[2]); err != nil {
		return nil, badf("contract %v; want %s", err, syntax)
	}
	num := func(field, s string, least int64) (string, error) {
		v, err := parseUint256(s)
		if err == nil && v.Cmp(big.NewInt(least)) < 0 {
			err = fmt.Errorf("must be at least %d", least)
		}
		if err != nil {
			return "", badf("%s %q: %v; want %s", field, clipInput(s), err, syntax)
		}
		return v.String(), nil
	}
	switch r.Standard {
	case authv1.TokenStandard_TOKEN_STANDARD_ERC721:
		if len(parts) == 4 {
			id, err := num("TOKEN_ID", parts[3], 0)
			if err != nil {
				return nil, err
			}
			r.TokenId = &id
		}
	case authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
		id, err := num("TOKEN_ID", parts[3], 0)
		if err != nil {
			return nil, err
		}
		r.TokenId = &id
		if len(parts) == 5 {
			if r.MinBalance, err = num("MIN", parts[4], 1); err != nil {
				return nil, err
			}
		}
	case authv1.TokenStandard_TOKEN_STANDARD_ERC20:
		if r.MinBalance, err = num("MIN", parts[3], 1); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// parseChain reads a decimal chain id or a chain name the server lists. An
// id the server does not list is refused too, when the list can be read:
// no viewer could ever meet a rule on a chain auth cannot query. (Without
// the list the server's own checks decide.)
func parseChain(ctx context.Context, s string, chains chainSource) (uint64, error) {
	switch {
	case s == "":
		return 0, badf("CHAIN is empty: give a chain id such as 1 or 1337")
	case isDigits(s):
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, badf("chain id %q is larger than a uint64", clipInput(s))
		}
		if id == 0 {
			return 0, badf("chain id 0 names no chain")
		}
		if chains == nil {
			return id, nil
		}
		if listed, err := chains(ctx); err == nil && len(listed) > 0 {
			for _, c := range listed {
				if c.GetChainId() == id {
					return id, nil
				}
			}
			return 0, badf("the server lists no chain %d; its chains: %s", id, chainList(listed))
		}
		return id, nil
	case !isChainName(s):
		return 0, badf("CHAIN %q is neither a decimal chain id nor a chain name", clipInput(s))
	case chains == nil:
		return 0, badf("CHAIN %q is not a decimal chain id", clipInput(s))
	}
	listed, err := chains(ctx)
	if err != nil {
		return 0, fmt.Errorf("chain %q: reading the server's chains: %w", clipInput(s), err)
	}
	return lookupChain(listed, s)
}

// checkContract validates a contract address and returns its EIP-55 form,
// with an error that says what is wrong with it.
func checkContract(s string) (string, error) {
	body, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return "", fmt.Errorf("%q must start with 0x", clipInput(s))
	}
	for _, c := range body {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return "", fmt.Errorf("%q holds %q, which is not a hex digit", clipInput(s), c)
		}
	}
	if len(body) != 40 {
		return "", fmt.Errorf("%q has %d hex digits; an address has 40 (20 bytes)", clipInput(s), len(body))
	}
	addr := common.HexToAddress(s)
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && addr.Hex() != s {
		// Mixed case is a checksum: a mismatch is most likely a typo.
		return "", fmt.Errorf("%q fails its EIP-55 checksum (mixed case): check for a typo, or write it in lower case", s)
	}
	return addr.Hex(), nil
}

// parseUint256 accepts plain decimal digits (no sign, spaces, 0x or
// exponent) up to 2^256 - 1.
func parseUint256(s string) (*big.Int, error) {
	if s == "" {
		return nil, errors.New("empty; want a decimal integer")
	}
	if !isDigits(s) {
		return nil, errors.New("not a decimal integer")
	}
	if len(s) > 100 {
		return nil, errors.New("larger than 2^256-1")
	}
	v, _ := new(big.Int).SetString(s, 10)
	if v.Cmp(maxUint256) > 0 {
		return nil, errors.New("larger than 2^256-1")
	}
	return v, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// isChainName: a letter first, then letters, digits, spaces, '-', '_' or
// '.' (names as servers list them, e.g. "StreamGate dev chain").
func isChainName(s string) bool {
	for i, c := range s {
		letter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == ' ' || c == '-' || c == '_' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// chainKey folds a chain name for matching: "StreamGate dev chain",
// "streamgate-dev-chain" and "StreamGateDevChain" are the same chain.
func chainKey(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// lookupChain finds name among the chains a server lists.
func lookupChain(chains []*gatewayv1.Chain, name string) (uint64, error) {
	for _, c := range chains {
		if c.GetName() != "" && chainKey(c.GetName()) == chainKey(name) {
			return c.GetChainId(), nil
		}
	}
	return 0, badf("the server lists no chain named %q; its chains: %s", clipInput(name), chainList(chains))
}

func chainList(chains []*gatewayv1.Chain) string {
	var known []string
	for _, c := range chains {
		known = append(known, fmt.Sprintf("%d (%s)", c.GetChainId(), c.GetName()))
	}
	return strings.Join(known, ", ")
}

// serverChains reads the chains from the gateway's GetClientConfig, at
// most once per command.
func serverChains(base string) chainSource {
	var chains []*gatewayv1.Chain
	var err error
	done := false
	return func(ctx context.Context) ([]*gatewayv1.Chain, error) {
		if !done {
			var res *connect.Response[gatewayv1.GetClientConfigResponse]
			res, err = gatewayv1connect.NewGatewayServiceClient(&http.Client{}, base).
				GetClientConfig(ctx, connect.NewRequest(&gatewayv1.GetClientConfigRequest{}))
			if err == nil {
				chains = res.Msg.GetChains()
			}
			done = true
		}
		return chains, err
	}
}

// clipInput shortens user input quoted in an error.
func clipInput(s string) string {
	const n = 80
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// policyFlags are the flags that describe an access policy: --policy SPEC
// (repeatable) with --any or --all, or --policy-file, and for commands
// that change a policy, --public.
type policyFlags struct {
	specs    []string
	file     string
	any, all bool
	public   bool
	preview  int
}

func (p *policyFlags) register(fs *flag.FlagSet, withPublic bool) {
	fs.Func("policy", "an on-chain condition viewers must meet, repeatable: "+policySyntax+
		" (CHAIN: a chain id, or a chain name the server lists)", func(s string) error {
		p.specs = append(p.specs, s)
		return nil
	})
	fs.BoolVar(&p.any, "any", false, "with several --policy: a viewer must meet at least one")
	fs.BoolVar(&p.all, "all", false, "with several --policy: a viewer must meet every one (the default for a single --policy)")
	fs.StringVar(&p.file, "policy-file", "", "read the access policy from a JSON file (an AccessPolicy message in protobuf JSON, as video policy --json prints)")
	fs.IntVar(&p.preview, "preview", 0, "with --policy: `seconds` of the start anyone signed in may watch without the pass (free preview; up to 3600)")
	if withPublic {
		fs.BoolVar(&p.public, "public", false, "make the video public: anyone may watch")
	}
}

// given reports whether any flag sets a policy.
func (p *policyFlags) given() bool { return len(p.specs) > 0 || p.file != "" || p.public }

// build returns the policy the flags describe, normalized, or nil when no
// flag sets one. Mistakes in the flags are badInput errors.
func (p *policyFlags) build(ctx context.Context, chains chainSource) (*authv1.AccessPolicy, error) {
	set := 0
	for _, b := range []bool{len(p.specs) > 0, p.file != "", p.public} {
		if b {
			set++
		}
	}
	switch {
	case set > 1:
		return nil, badf("give only one of --policy, --policy-file and --public")
	case p.any && p.all:
		return nil, badf("give --any or --all, not both")
	case (p.any || p.all) && len(p.specs) == 0:
		return nil, badf("--any and --all say how several --policy conditions combine; there is no --policy")
	case len(p.specs) > 1 && !p.any && !p.all:
		return nil, badf("%d --policy conditions: say how they combine with --any (one is enough) or --all (every one)", len(p.specs))
	case p.preview != 0 && len(p.specs) == 0:
		return nil, badf("--preview is the free part of a gated video: give it with --policy (in a --policy-file, set preview_seconds)")
	case p.preview < 0 || p.preview > policy.MaxPreviewSeconds:
		return nil, badf("--preview %d: want 0 to %d seconds", p.preview, policy.MaxPreviewSeconds)
	}
	var out *authv1.AccessPolicy
	switch {
	case p.public:
		out = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}
	case p.file != "":
		var err error
		if out, err = readPolicyFile(p.file); err != nil {
			return nil, err
		}
	case len(p.specs) > 0:
		if len(p.specs) > policy.MaxRules {
			return nil, badf("%d --policy conditions; a policy holds at most %d", len(p.specs), policy.MaxRules)
		}
		out = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, PreviewSeconds: uint32(p.preview)}
		if p.any {
			out.Mode = authv1.AccessMode_ACCESS_MODE_ANY
		}
		for _, s := range p.specs {
			r, err := parseRuleSpec(ctx, s, chains)
			var b badInput
			if errors.As(err, &b) {
				return nil, badf("--policy %q: %v", clipInput(s), err)
			}
			if err != nil {
				return nil, err
			}
			out.Rules = append(out.Rules, r)
		}
	default:
		return nil, nil
	}
	n, err := policy.Normalize(out)
	if err != nil {
		return nil, badInput{err}
	}
	return n, nil
}

// readPolicyFile reads an AccessPolicy in protobuf JSON; unknown fields
// are refused, so a misspelt field is not silently dropped.
func readPolicyFile(path string) (*authv1.AccessPolicy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, badf("--policy-file: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPolicyFileBytes+1))
	if err != nil {
		return nil, badf("--policy-file: %v", err)
	}
	if len(b) > maxPolicyFileBytes {
		return nil, badf("--policy-file %s: larger than %d bytes; an access policy is a small JSON object", path, maxPolicyFileBytes)
	}
	var p authv1.AccessPolicy
	if err := protojson.Unmarshal(b, &p); err != nil {
		return nil, badf("--policy-file %s: not an AccessPolicy in protobuf JSON (%v); e.g. %s", path, err,
			`{"mode":"ACCESS_MODE_ALL","rules":[{"chain_id":"1337","contract_address":"0x...","standard":"TOKEN_STANDARD_ERC721"}]}`)
	}
	if _, err := policy.Normalize(&p); err != nil {
		return nil, badf("--policy-file %s: %v", path, err)
	}
	return &p, nil
}

// formatRuleSpec writes a rule in the --policy syntax; false when the
// syntax cannot say it (an ERC-721 rule asking for several tokens).
func formatRuleSpec(r *authv1.AccessRule) (string, bool) {
	head := fmt.Sprintf("%d:%s", r.GetChainId(), r.GetContractAddress())
	minimum := r.GetMinBalance()
	switch r.GetStandard() {
	case authv1.TokenStandard_TOKEN_STANDARD_ERC721:
		if r.TokenId != nil {
			return "erc721:" + head + ":" + r.GetTokenId(), true
		}
		return "erc721:" + head, minimum == "" || minimum == "1"
	case authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
		s := "erc1155:" + head + ":" + r.GetTokenId()
		if minimum != "" {
			s += ":" + minimum
		}
		return s, r.TokenId != nil
	case authv1.TokenStandard_TOKEN_STANDARD_ERC20:
		if minimum == "" {
			minimum = "1"
		}
		return "erc20:" + head + ":" + minimum, r.TokenId == nil
	}
	return "", false
}
