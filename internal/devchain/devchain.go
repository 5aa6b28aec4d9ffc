// Package devchain runs an in-process go-ethereum dev chain for
// `streamgate dev` and for tests: the simulated backend (chain id 1337) with
// JSON-RPC over HTTP on loopback, blocks sealed on a short ticker and right
// after each transaction this package sends, the demo ERC-721
// (StreamGatePass) and ERC-1155 (StreamGateItems) deployed at start, and a
// funded demo wallet.
//
// DEV ONLY: the keys below are public, well-known test keys (the first two
// accounts of the Hardhat/Anvil default mnemonic). Never fund them anywhere
// real.
package devchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"

	"github.com/streamgate/streamgate/internal/devchain/bindings"
)

// ChainID is the simulated backend's fixed EIP-155 chain id.
const ChainID uint64 = 1337

const (
	// DeployerKeyHex is the dev-only private key that deploys the demo
	// contracts, owns them (only it may mint) and pays for this package's
	// transactions. Address 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266.
	DeployerKeyHex = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	// DemoWalletKeyHex is the dev-only private key of the demo viewer wallet
	// (`streamgate login --dev`). Address
	// 0x70997970C51812dc3A010C7d01b50e0d17dc79C8.
	DemoWalletKeyHex = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
)

// genesisBalance is what the deployer and the demo wallet start with: 10,000 ETH.
var genesisBalance = new(big.Int).Mul(big.NewInt(10_000), big.NewInt(1e18))

// Config configures the dev chain.
type Config struct {
	// HTTPPort is the loopback port of the JSON-RPC endpoint; 0 picks a free
	// one (see RPCURL).
	HTTPPort int
	// BlockInterval is how often a block is sealed even when nothing of ours
	// is pending, so transactions sent by others over RPC get mined. Default
	// 1s.
	BlockInterval time.Duration
	// CORSOrigins lets browsers call the RPC endpoint from these origins
	// (e.g. the dev web app). Empty: no CORS headers.
	CORSOrigins []string
	// Alloc funds more accounts at genesis (wei), e.g. test wallets.
	Alloc map[common.Address]*big.Int
}

// Chain is a running dev chain. Its methods are safe for concurrent use.
type Chain struct {
	logger   *slog.Logger
	backend  *simulated.Backend
	client   simulated.Client
	rpcURL   string
	deployer *ecdsa.PrivateKey
	demo     *ecdsa.PrivateKey

	pass  common.Address
	items common.Address

	sealMu sync.Mutex // serializes Commit
	txMu   sync.Mutex // serializes our transactions so nonces stay ordered

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New starts the chain, deploys the demo contracts and starts sealing
// blocks. Close stops it.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Chain, error) {
	if logger == nil {
		return nil, errors.New("devchain: nil logger")
	}
	if cfg.BlockInterval <= 0 {
		cfg.BlockInterval = time.Second
	}
	deployer, err := crypto.HexToECDSA(DeployerKeyHex)
	if err != nil {
		return nil, fmt.Errorf("devchain: deployer key: %w", err)
	}
	demo, err := crypto.HexToECDSA(DemoWalletKeyHex)
	if err != nil {
		return nil, fmt.Errorf("devchain: demo key: %w", err)
	}
	alloc := types.GenesisAlloc{
		crypto.PubkeyToAddress(deployer.PublicKey): {Balance: genesisBalance},
		crypto.PubkeyToAddress(demo.PublicKey):     {Balance: genesisBalance},
	}
	for addr, wei := range cfg.Alloc {
		alloc[addr] = types.Account{Balance: new(big.Int).Set(wei)}
	}

	backend, port, err := startBackend(alloc, cfg)
	if err != nil {
		return nil, err
	}
	c := &Chain{
		logger:   logger,
		backend:  backend,
		client:   backend.Client(),
		rpcURL:   fmt.Sprintf("http://127.0.0.1:%d", port),
		deployer: deployer,
		demo:     demo,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if c.pass, err = c.deploy(ctx, bindings.StreamGatePassMetaData.Bin, nil); err != nil {
		c.closeBackend()
		return nil, fmt.Errorf("devchain: deploy StreamGatePass: %w", err)
	}
	if c.items, err = c.deploy(ctx, bindings.StreamGateItemsMetaData.Bin, nil); err != nil {
		c.closeBackend()
		return nil, fmt.Errorf("devchain: deploy StreamGateItems: %w", err)
	}
	go c.sealLoop(cfg.BlockInterval)
	logger.Info("dev chain started", "rpc_url", c.rpcURL, "chain_id", ChainID,
		"pass_erc721", c.pass.Hex(), "items_erc1155", c.items.Hex(),
		"demo_wallet", c.DemoWallet().Hex())
	return c, nil
}

// startBackend starts the simulated backend with HTTP JSON-RPC on loopback.
// simulated.NewBackend panics when the node cannot start (a port taken
// between our probe and its listen): recover and retry a few times.
func startBackend(alloc types.GenesisAlloc, cfg Config) (b *simulated.Backend, port int, err error) {
	for attempt := 0; attempt < 5; attempt++ {
		port = cfg.HTTPPort
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, 0, err
			}
		}
		b, err = newBackend(alloc, port, cfg.CORSOrigins)
		if err == nil || cfg.HTTPPort != 0 {
			return b, port, err
		}
	}
	return nil, 0, err
}

func newBackend(alloc types.GenesisAlloc, port int, cors []string) (b *simulated.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("devchain: start simulated backend on port %d: %v", port, r)
		}
	}()
	b = simulated.NewBackend(alloc, func(nc *node.Config, _ *ethconfig.Config) {
		nc.HTTPHost = "127.0.0.1"
		nc.HTTPPort = port
		nc.HTTPModules = []string{"eth", "net", "web3"}
		nc.HTTPVirtualHosts = []string{"localhost", "127.0.0.1"}
		nc.HTTPCors = cors
		nc.WSHost = "" // no websocket server
	})
	return b, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devchain: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RPCURL is the JSON-RPC endpoint, e.g. http://127.0.0.1:8545.
func (c *Chain) RPCURL() string { return c.rpcURL }

// ChainID is 1337.
func (c *Chain) ChainID() uint64 { return ChainID }

// PassAddress is the demo ERC-721 (StreamGatePass).
func (c *Chain) PassAddress() common.Address { return c.pass }

// ItemsAddress is the demo ERC-1155 (StreamGateItems).
func (c *Chain) ItemsAddress() common.Address { return c.items }

// DemoWallet is the funded demo viewer address.
func (c *Chain) DemoWallet() common.Address { return crypto.PubkeyToAddress(c.demo.PublicKey) }

// DemoWalletKey is the demo viewer's private key (dev only).
func (c *Chain) DemoWalletKey() *ecdsa.PrivateKey { return c.demo }

// Deployer is the address that owns the demo contracts.
func (c *Chain) Deployer() common.Address { return crypto.PubkeyToAddress(c.deployer.PublicKey) }

// Client is an in-process RPC client of the chain (no HTTP).
func (c *Chain) Client() simulated.Client { return c.client }

// Commit seals a block now and returns its hash.
func (c *Chain) Commit() common.Hash {
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	return c.backend.Commit()
}

// Close stops sealing and shuts the chain down. Safe to call twice.
func (c *Chain) Close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		c.closeBackend()
		c.logger.Info("dev chain stopped", "rpc_url", c.rpcURL)
	})
}

func (c *Chain) closeBackend() {
	c.sealMu.Lock()
	defer c.sealMu.Unlock()
	if err := c.backend.Close(); err != nil {
		c.logger.Warn("dev chain close", "err", err)
	}
}

func (c *Chain) sealLoop(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.Commit()
		}
	}
}
