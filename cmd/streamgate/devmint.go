package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/identity"
)

// defaultChainRPC is where `streamgate dev` serves its chain's JSON-RPC by
// default (--chain-port 8545).
const defaultChainRPC = "http://127.0.0.1:8545"

// runDevMint is `streamgate dev-mint --to ADDRESS [--rpc URL] [--standard
// erc721|erc1155] [--token-id N] [--amount N]`: it mints a demo pass on the
// dev chain of `streamgate dev`, talking to the chain's JSON-RPC directly
// with the well-known dev deployer key (which owns the demo contracts). No
// StreamGate service is involved: the public API carries no dev-only mint
// method. The chain must be the dev chain (id 1337, demo contracts
// deployed); anything else is refused before a transaction is signed.
func runDevMint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev-mint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate dev-mint --to ADDRESS [--rpc URL] [--standard erc721|erc1155] [--token-id N] [--amount N]")
		fmt.Fprintln(stderr, "\nMints a demo pass on the dev chain of `streamgate dev` (which prints the chain's RPC URL).\nERC-721 mints the next StreamGatePass; ERC-1155 mints --amount of StreamGateItems --token-id.\n\nflags:")
		fs.PrintDefaults()
	}
	to := fs.String("to", "", "wallet that receives the token (0x address; required)")
	rpcURL := fs.String("rpc", defaultChainRPC, "JSON-RPC URL of the dev chain")
	standard := fs.String("standard", "erc721", "erc721 (StreamGatePass) or erc1155 (StreamGateItems)")
	tokenID := fs.String("token-id", "", "ERC-1155 token id (default 1); ERC-721 ids are assigned by the contract")
	amount := fs.String("amount", "", "ERC-1155 amount (default 1)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the chain")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "streamgate dev-mint: "+format+"\n", a...)
		fs.Usage()
		return errUsage
	}
	if *to == "" {
		return usageErr("--to is required")
	}
	addr, err := identity.NormalizeAddress(*to)
	if err != nil {
		return usageErr("--to: %v", err)
	}
	recipient := common.HexToAddress(addr)
	if recipient == (common.Address{}) {
		return usageErr("--to: the zero address cannot hold a pass")
	}
	std := strings.ToLower(*standard)
	var id, amt *big.Int
	switch std {
	case "erc721":
		if *tokenID != "" || *amount != "" {
			return usageErr("--token-id and --amount apply to --standard erc1155 only")
		}
	case "erc1155":
		if id, err = parseUint(*tokenID, "1"); err != nil {
			return usageErr("--token-id: %v", err)
		}
		if amt, err = parseUint(*amount, "1"); err != nil || amt.Sign() == 0 {
			return usageErr("--amount must be a positive integer")
		}
	default:
		return usageErr("--standard must be erc721 or erc1155, got %q", *standard)
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	m, err := devchain.DialMinter(ctx, *rpcURL)
	if err != nil {
		if errors.Is(err, devchain.ErrNotDevChain) {
			return fmt.Errorf("%w (dev-mint works only against `streamgate dev`)", err)
		}
		return fmt.Errorf("%w (is `streamgate dev` running? it prints its chain URL)", err)
	}
	defer m.Close()
	var minted devchain.Minted
	if std == "erc721" {
		minted, err = m.MintPass(ctx, recipient)
	} else {
		minted, err = m.MintItems(ctx, recipient, id, amt)
	}
	if err != nil {
		return err
	}
	if std == "erc721" {
		fmt.Fprintf(stdout, "minted StreamGatePass (ERC-721) #%s to %s\n", minted.TokenID, recipient.Hex())
	} else {
		fmt.Fprintf(stdout, "minted %s of StreamGateItems (ERC-1155) id %s to %s\n", minted.Amount, minted.TokenID, recipient.Hex())
	}
	fmt.Fprintf(stdout, "contract: %s (chain %d)\ntx:       %s (block %d)\n", minted.Contract.Hex(), devchain.ChainID, minted.TxHash.Hex(), minted.Block)
	return nil
}

// parseUint parses a non-negative decimal integer of at most 78 digits
// (uint256), or def when s is empty.
func parseUint(s, def string) (*big.Int, error) {
	if s == "" {
		s = def
	}
	if len(s) > 78 {
		return nil, errors.New("too large")
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 256 {
		return nil, fmt.Errorf("%q is not a non-negative integer", s)
	}
	return n, nil
}
