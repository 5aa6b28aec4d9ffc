package devchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/streamgate/streamgate/internal/devchain/bindings"
)

// ErrReverted is returned when one of our transactions was mined but failed.
var ErrReverted = errors.New("devchain: transaction reverted")

var (
	passABI   = bindings.NewStreamGatePass()
	itemsABI  = bindings.NewStreamGateItems()
	tokenABI  = bindings.NewStreamGateToken()
	walletABI = bindings.NewStreamGateWallet()
)

func (c *Chain) transactor(ctx context.Context, key *ecdsa.PrivateKey) *bind.TransactOpts {
	opts := bind.NewKeyedTransactor(key, new(big.Int).SetUint64(ChainID))
	opts.Context = ctx
	return opts
}

// mine seals blocks until tx has a receipt, and fails on a reverted one.
func (c *Chain) mine(ctx context.Context, tx *types.Transaction) (*types.Receipt, error) {
	for range 5 {
		c.Commit()
		r, err := c.client.TransactionReceipt(ctx, tx.Hash())
		if err == nil {
			if r.Status != types.ReceiptStatusSuccessful {
				return r, fmt.Errorf("%w: %s", ErrReverted, tx.Hash().Hex())
			}
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("devchain: transaction %s not mined", tx.Hash().Hex())
}

// send signs data for contract with key, sends it and mines it.
func (c *Chain) send(ctx context.Context, key *ecdsa.PrivateKey, contract common.Address, data []byte) (*types.Receipt, error) {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	bc := bind.NewBoundContract(contract, passABI.GetABI(), c.client, c.client, c.client)
	tx, err := bind.Transact(bc, c.transactor(ctx, key), data)
	if err != nil {
		return nil, err
	}
	return c.mine(ctx, tx)
}

// deploy deploys bin (0x-hex creation code) with constructor input.
func (c *Chain) deploy(ctx context.Context, bin string, input []byte) (common.Address, error) {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	addr, tx, err := bind.DeployContract(c.transactor(ctx, c.deployer), common.FromHex(bin), c.client, input)
	if err != nil {
		return common.Address{}, err
	}
	if _, err := c.mine(ctx, tx); err != nil {
		return common.Address{}, err
	}
	return addr, nil
}

// Mint721 mints the next StreamGatePass to `to` and returns its token id.
func (c *Chain) Mint721(ctx context.Context, to common.Address) (*big.Int, error) {
	r, err := c.send(ctx, c.deployer, c.pass, passABI.PackMint(to))
	if err != nil {
		return nil, fmt.Errorf("devchain: mint pass: %w", err)
	}
	for _, l := range r.Logs {
		if ev, err := passABI.UnpackTransferEvent(l); err == nil && ev.To == to {
			return ev.TokenId, nil
		}
	}
	return nil, errors.New("devchain: mint pass: no Transfer event in receipt")
}

// Mint1155 mints amount of StreamGateItems token id to `to`.
func (c *Chain) Mint1155(ctx context.Context, to common.Address, id, amount *big.Int) error {
	if _, err := c.send(ctx, c.deployer, c.items, itemsABI.PackMint(to, id, amount)); err != nil {
		return fmt.Errorf("devchain: mint items: %w", err)
	}
	return nil
}

// Transfer721 moves StreamGatePass id from the owner of fromKey to `to`. The
// sender pays gas: fund it first (genesis Alloc or Fund).
func (c *Chain) Transfer721(ctx context.Context, fromKey *ecdsa.PrivateKey, to common.Address, id *big.Int) error {
	from := crypto.PubkeyToAddress(fromKey.PublicKey)
	if _, err := c.send(ctx, fromKey, c.pass, passABI.PackTransferFrom(from, to, id)); err != nil {
		return fmt.Errorf("devchain: transfer pass %s: %w", id, err)
	}
	return nil
}

// Transfer1155 moves amount of StreamGateItems id from the owner of fromKey
// to `to`.
func (c *Chain) Transfer1155(ctx context.Context, fromKey *ecdsa.PrivateKey, to common.Address, id, amount *big.Int) error {
	from := crypto.PubkeyToAddress(fromKey.PublicKey)
	if _, err := c.send(ctx, fromKey, c.items, itemsABI.PackSafeTransferFrom(from, to, id, amount, nil)); err != nil {
		return fmt.Errorf("devchain: transfer items %s: %w", id, err)
	}
	return nil
}

// Fund sends wei from the deployer to `to`.
func (c *Chain) Fund(ctx context.Context, to common.Address, wei *big.Int) error {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	from := crypto.PubkeyToAddress(c.deployer.PublicKey)
	nonce, err := c.client.PendingNonceAt(ctx, from)
	if err != nil {
		return fmt.Errorf("devchain: fund %s: %w", to.Hex(), err)
	}
	tip, err := c.client.SuggestGasTipCap(ctx)
	if err != nil {
		return fmt.Errorf("devchain: fund %s: %w", to.Hex(), err)
	}
	head, err := c.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return fmt.Errorf("devchain: fund %s: %w", to.Hex(), err)
	}
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	tx, err := types.SignNewTx(c.deployer, types.LatestSignerForChainID(new(big.Int).SetUint64(ChainID)),
		&types.DynamicFeeTx{
			ChainID:   new(big.Int).SetUint64(ChainID),
			Nonce:     nonce,
			GasTipCap: tip,
			GasFeeCap: feeCap,
			Gas:       21_000,
			To:        &to,
			Value:     wei,
		})
	if err != nil {
		return fmt.Errorf("devchain: fund %s: %w", to.Hex(), err)
	}
	if err := c.client.SendTransaction(ctx, tx); err != nil {
		return fmt.Errorf("devchain: fund %s: %w", to.Hex(), err)
	}
	if _, err := c.mine(ctx, tx); err != nil {
		return fmt.Errorf("devchain: fund %s: %w", to.Hex(), err)
	}
	return nil
}

// DeployToken deploys a fresh StreamGateToken (ERC-20, no ERC-165) owned by
// the deployer.
func (c *Chain) DeployToken(ctx context.Context) (common.Address, error) {
	addr, err := c.deploy(ctx, bindings.StreamGateTokenMetaData.Bin, nil)
	if err != nil {
		return common.Address{}, fmt.Errorf("devchain: deploy StreamGateToken: %w", err)
	}
	return addr, nil
}

// MintToken mints amount of the ERC-20 at token to `to`.
func (c *Chain) MintToken(ctx context.Context, token, to common.Address, amount *big.Int) error {
	if _, err := c.send(ctx, c.deployer, token, tokenABI.PackMint(to, amount)); err != nil {
		return fmt.Errorf("devchain: mint token: %w", err)
	}
	return nil
}

// TransferToken moves amount of the ERC-20 at token from the owner of
// fromKey to `to`. The sender pays gas: fund it first.
func (c *Chain) TransferToken(ctx context.Context, fromKey *ecdsa.PrivateKey, token, to common.Address, amount *big.Int) error {
	if _, err := c.send(ctx, fromKey, token, tokenABI.PackTransfer(to, amount)); err != nil {
		return fmt.Errorf("devchain: transfer token: %w", err)
	}
	return nil
}

// DeployWallet deploys an EIP-1271 StreamGateWallet owned by the EOA owner.
// With rejectAll it refuses every signature.
func (c *Chain) DeployWallet(ctx context.Context, owner common.Address, rejectAll bool) (common.Address, error) {
	addr, err := c.deploy(ctx, bindings.StreamGateWalletMetaData.Bin, walletABI.PackConstructor(owner, rejectAll))
	if err != nil {
		return common.Address{}, fmt.Errorf("devchain: deploy StreamGateWallet: %w", err)
	}
	return addr, nil
}
