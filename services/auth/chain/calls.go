package chain

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

// Interface ids (ERC-165) of the standards access policies name.
var (
	InterfaceERC165  = [4]byte{0x01, 0xff, 0xc9, 0xa7}
	InterfaceERC721  = [4]byte{0x80, 0xac, 0x58, 0xcd}
	InterfaceERC1155 = [4]byte{0xd9, 0xb6, 0x7a, 0x26}
)

// eip1271Magic is what isValidSignature returns for a valid signature.
var eip1271Magic = [4]byte{0x16, 0x26, 0xba, 0x7e}

// tokenABI is the subset of the ERC-165/20/721/1155 and EIP-1271 interfaces
// this package calls. ERC-20 and ERC-721 share balanceOf(address).
const tokenABI = `[
 {"type":"function","name":"supportsInterface","stateMutability":"view","inputs":[{"name":"interfaceId","type":"bytes4"}],"outputs":[{"name":"","type":"bool"}]},
 {"type":"function","name":"balanceOf","stateMutability":"view","inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"ownerOf","stateMutability":"view","inputs":[{"name":"tokenId","type":"uint256"}],"outputs":[{"name":"","type":"address"}]},
 {"type":"function","name":"isValidSignature","stateMutability":"view","inputs":[{"name":"hash","type":"bytes32"},{"name":"signature","type":"bytes"}],"outputs":[{"name":"","type":"bytes4"}]}
]`

// erc1155ABI is separate because its balanceOf overloads ERC-721's.
const erc1155ABI = `[
 {"type":"function","name":"balanceOf","stateMutability":"view","inputs":[{"name":"account","type":"address"},{"name":"id","type":"uint256"}],"outputs":[{"name":"","type":"uint256"}]}
]`

var (
	tokenMethods   = mustABI(tokenABI)
	erc1155Methods = mustABI(erc1155ABI)
)

func mustABI(s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		panic("chain: bad built-in ABI: " + err.Error()) // a bug, caught by any test
	}
	return a
}

// blockArg turns a block number into ethclient's form; 0 means latest.
func blockArg(block uint64) *big.Int {
	if block == 0 {
		return nil
	}
	return new(big.Int).SetUint64(block)
}

// call packs args for method of a, runs eth_call and unpacks one output.
func call[T any](ctx context.Context, c *Client, chainID uint64, a abi.ABI, method string, contract common.Address, block uint64, args ...any) (T, error) {
	var zero T
	data, err := a.Pack(method, args...)
	if err != nil {
		return zero, fmt.Errorf("chain: pack %s: %w", method, err)
	}
	out, err := c.callContract(ctx, chainID, method, contract, data, blockArg(block))
	if err != nil {
		return zero, err
	}
	vals, err := a.Unpack(method, out)
	if err != nil || len(vals) != 1 {
		return zero, &Error{ChainID: chainID, Op: method, Kind: ErrBadResponse,
			Cause: fmt.Errorf("contract %s returned %d bytes", contract.Hex(), len(out))}
	}
	v, ok := vals[0].(T)
	if !ok {
		return zero, &Error{ChainID: chainID, Op: method, Kind: ErrBadResponse,
			Cause: fmt.Errorf("contract %s returned %T", contract.Hex(), vals[0])}
	}
	return v, nil
}

// SupportsInterface calls ERC-165 supportsInterface(id) at block (0:
// latest). A contract without ERC-165 (revert, no code, garbage output)
// supports nothing: false, nil. Only an unreachable chain is an error.
func (c *Client) SupportsInterface(ctx context.Context, chainID uint64, contract common.Address, id [4]byte, block uint64) (bool, error) {
	ok, err := call[bool](ctx, c, chainID, tokenMethods, "supportsInterface", contract, block, id)
	if err != nil {
		if isContractFault(err) {
			return false, nil
		}
		return false, err
	}
	return ok, nil
}

// ERC20BalanceOf calls ERC-20 balanceOf(holder) at block (0: latest).
func (c *Client) ERC20BalanceOf(ctx context.Context, chainID uint64, contract, holder common.Address, block uint64) (*big.Int, error) {
	return call[*big.Int](ctx, c, chainID, tokenMethods, "balanceOf", contract, block, holder)
}

// ERC721BalanceOf calls ERC-721 balanceOf(holder) at block (0: latest).
func (c *Client) ERC721BalanceOf(ctx context.Context, chainID uint64, contract, holder common.Address, block uint64) (*big.Int, error) {
	return call[*big.Int](ctx, c, chainID, tokenMethods, "balanceOf", contract, block, holder)
}

// ERC721OwnerOf calls ERC-721 ownerOf(tokenID) at block (0: latest). A
// token that does not exist reverts: the error unwraps to ErrReverted.
func (c *Client) ERC721OwnerOf(ctx context.Context, chainID uint64, contract common.Address, tokenID *big.Int, block uint64) (common.Address, error) {
	return call[common.Address](ctx, c, chainID, tokenMethods, "ownerOf", contract, block, tokenID)
}

// ERC1155BalanceOf calls ERC-1155 balanceOf(holder, id) at block (0: latest).
func (c *Client) ERC1155BalanceOf(ctx context.Context, chainID uint64, contract, holder common.Address, id *big.Int, block uint64) (*big.Int, error) {
	return call[*big.Int](ctx, c, chainID, erc1155Methods, "balanceOf", contract, block, holder, id)
}

// IsValidSignature asks the EIP-1271 contract wallet at wallet whether
// signature is valid for hash, at the latest block. An address with no code
// (an EOA), a reverting call or any answer but the magic value 0x1626ba7e is
// false, nil; only an unreachable chain or unknown chain id is an error.
func (c *Client) IsValidSignature(ctx context.Context, chainID uint64, wallet common.Address, hash common.Hash, signature []byte) (bool, error) {
	code, err := c.CodeAt(ctx, chainID, wallet, nil)
	if err != nil {
		return false, err
	}
	if len(code) == 0 {
		return false, nil
	}
	data, err := tokenMethods.Pack("isValidSignature", hash, signature)
	if err != nil {
		return false, fmt.Errorf("chain: pack isValidSignature: %w", err)
	}
	out, err := c.callContract(ctx, chainID, "isValidSignature", wallet, data, nil)
	if err != nil {
		if isContractFault(err) {
			return false, nil
		}
		return false, err
	}
	// bytes4 is ABI-encoded left-aligned in a 32-byte word. Compare the raw
	// word strictly rather than trusting a lenient decoder.
	if len(out) != 32 {
		return false, nil
	}
	want := make([]byte, 32)
	copy(want, eip1271Magic[:])
	return bytes.Equal(out, want), nil
}
