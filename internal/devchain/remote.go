package devchain

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
)

// DeployerAddress is the address of DeployerKeyHex.
var DeployerAddress = common.HexToAddress("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")

// DemoPassAddress is where New deploys the demo ERC-721 StreamGatePass: the
// deployer's first contract creation (nonce 0) on a fresh chain.
func DemoPassAddress() common.Address { return crypto.CreateAddress(DeployerAddress, 0) }

// DemoItemsAddress is where New deploys the demo ERC-1155 StreamGateItems:
// the deployer's second contract creation (nonce 1).
func DemoItemsAddress() common.Address { return crypto.CreateAddress(DeployerAddress, 1) }

// ErrNotDevChain is returned by the remote minters when the endpoint is not
// a StreamGate dev chain (another chain id, or no demo contract deployed).
var ErrNotDevChain = errors.New("not a StreamGate dev chain")

// Minted is the outcome of a remote mint.
type Minted struct {
	Contract common.Address
	TokenID  *big.Int
	Amount   *big.Int
	TxHash   common.Hash
	Block    uint64
}

// RemoteMinter mints demo tokens on a running dev chain (`streamgate dev`)
// over its JSON-RPC endpoint, with the well-known dev deployer key, which
// owns the demo contracts. It refuses any chain but ChainID 1337 with the
// demo contracts deployed, so the public key is never used elsewhere.
type RemoteMinter struct {
	client *ethclient.Client
}

// DialMinter connects to rpcURL and checks that it is a dev chain.
func DialMinter(ctx context.Context, rpcURL string) (*RemoteMinter, error) {
	client, err := ethclient.DialContext(ctx, rpcURL)
	if err != nil {
		return nil, fmt.Errorf("devchain: dial %s: %w", rpcURL, err)
	}
	id, err := client.ChainID(ctx)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("devchain: %s: eth_chainId: %w", rpcURL, err)
	}
	if id.Uint64() != ChainID {
		client.Close()
		return nil, fmt.Errorf("devchain: %s has chain id %s, want %d: %w", rpcURL, id, ChainID, ErrNotDevChain)
	}
	for _, c := range []common.Address{DemoPassAddress(), DemoItemsAddress()} {
		code, err := client.CodeAt(ctx, c, nil)
		if err != nil {
			client.Close()
			return nil, fmt.Errorf("devchain: %s: eth_getCode: %w", rpcURL, err)
		}
		if len(code) == 0 {
			client.Close()
			return nil, fmt.Errorf("devchain: %s: no demo contract at %s: %w", rpcURL, c.Hex(), ErrNotDevChain)
		}
	}
	return &RemoteMinter{client: client}, nil
}

// Close closes the connection.
func (m *RemoteMinter) Close() { m.client.Close() }

// MintPass mints the next StreamGatePass (ERC-721) to `to` and waits for it
// to be mined.
func (m *RemoteMinter) MintPass(ctx context.Context, to common.Address) (Minted, error) {
	r, err := m.send(ctx, DemoPassAddress(), passABI.PackMint(to))
	if err != nil {
		return Minted{}, fmt.Errorf("devchain: mint pass: %w", err)
	}
	for _, l := range r.Logs {
		if ev, err := passABI.UnpackTransferEvent(l); err == nil && ev.To == to {
			return Minted{Contract: DemoPassAddress(), TokenID: ev.TokenId, Amount: big.NewInt(1), TxHash: r.TxHash, Block: r.BlockNumber.Uint64()}, nil
		}
	}
	return Minted{}, errors.New("devchain: mint pass: no Transfer event in receipt")
}

// MintItems mints amount of StreamGateItems (ERC-1155) token id to `to` and
// waits for it to be mined.
func (m *RemoteMinter) MintItems(ctx context.Context, to common.Address, id, amount *big.Int) (Minted, error) {
	if id == nil || id.Sign() < 0 || amount == nil || amount.Sign() <= 0 {
		return Minted{}, errors.New("devchain: mint items: token id must be >= 0 and amount > 0")
	}
	r, err := m.send(ctx, DemoItemsAddress(), itemsABI.PackMint(to, id, amount))
	if err != nil {
		return Minted{}, fmt.Errorf("devchain: mint items: %w", err)
	}
	return Minted{Contract: DemoItemsAddress(), TokenID: id, Amount: amount, TxHash: r.TxHash, Block: r.BlockNumber.Uint64()}, nil
}

// GivePass transfers pass tokenID from the deployer, which must hold it,
// to another wallet: a Transfer event as a sale would make, for tests of
// revocation against a running dev chain.
func (m *RemoteMinter) GivePass(ctx context.Context, tokenID *big.Int, to common.Address) (Minted, error) {
	r, err := m.send(ctx, DemoPassAddress(), passABI.PackTransferFrom(DeployerAddress, to, tokenID))
	if err != nil {
		return Minted{}, fmt.Errorf("devchain: transfer pass: %w", err)
	}
	return Minted{Contract: DemoPassAddress(), TokenID: tokenID, Amount: big.NewInt(1), TxHash: r.TxHash, Block: r.BlockNumber.Uint64()}, nil
}

func (m *RemoteMinter) send(ctx context.Context, contract common.Address, data []byte) (*types.Receipt, error) {
	key, err := crypto.HexToECDSA(DeployerKeyHex)
	if err != nil {
		return nil, err
	}
	opts := bind.NewKeyedTransactor(key, new(big.Int).SetUint64(ChainID))
	opts.Context = ctx
	bc := bind.NewBoundContract(contract, passABI.GetABI(), m.client, m.client, m.client)
	tx, err := bind.Transact(bc, opts, data)
	if err != nil {
		return nil, err
	}
	r, err := bind.WaitMined(ctx, m.client, tx.Hash())
	if err != nil {
		return nil, err
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return r, fmt.Errorf("%w: %s", ErrReverted, tx.Hash().Hex())
	}
	return r, nil
}
