// Package chain reads EVM chains for StreamGate: one configured JSON-RPC
// endpoint per chain id, reached through go-ethereum's ethclient, with a
// per-call timeout and a circuit breaker per chain. It knows the handful of
// calls that access policies and contract-wallet sign-in need (ERC-165,
// ERC-20/721/1155 balances, ownerOf, EIP-1271) and nothing about policies.
//
// Errors unwrap to ErrUnknownChain, ErrUnavailable (unreachable endpoint,
// timeout, open breaker: fail closed on it), ErrReverted or ErrBadResponse.
package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"net/url"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/sony/gobreaker/v2"
)

// Config lists the chains and how calls to them are bounded.
type Config struct {
	// Chains maps an EIP-155 chain id to its JSON-RPC endpoint
	// (http, https, ws or wss URL). At least one is required.
	Chains map[uint64]string
	// CallTimeout bounds each RPC call. Default 5s.
	CallTimeout time.Duration
	// BreakerFailures is the number of consecutive failed calls that opens a
	// chain's breaker. Default 5.
	BreakerFailures uint32
	// BreakerOpenFor is how long an open breaker refuses calls before it
	// lets one probe through (half-open). Default 10s.
	BreakerOpenFor time.Duration
}

func (c *Config) validate() error {
	if len(c.Chains) == 0 {
		return errors.New("chain: config: no chains configured")
	}
	for id, raw := range c.Chains {
		if id == 0 {
			return errors.New("chain: config: chain id 0 is not valid")
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("chain: config: chain %d: RPC URL %q is not a URL", id, raw)
		}
		switch u.Scheme {
		case "http", "https", "ws", "wss":
		default:
			return fmt.Errorf("chain: config: chain %d: RPC URL scheme %q is not http(s) or ws(s)", id, u.Scheme)
		}
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	if c.BreakerOpenFor <= 0 {
		c.BreakerOpenFor = 10 * time.Second
	}
	return nil
}

// Client reaches the configured chains. It is safe for concurrent use.
type Client struct {
	cfg    Config
	logger *slog.Logger
	chains map[uint64]*endpoint
}

type endpoint struct {
	id      uint64
	url     string
	rpc     *rpc.Client
	eth     *ethclient.Client
	breaker *gobreaker.CircuitBreaker[any]
}

// New builds a Client. HTTP(S) endpoints are dialed lazily (no I/O here),
// so a chain that is down at start does not stop the process: its calls
// fail with ErrUnavailable until it comes back. A ws(s) endpoint is dialed
// here, and New fails if it cannot be reached.
func New(cfg Config, logger *slog.Logger) (*Client, error) {
	if logger == nil {
		return nil, errors.New("chain: nil logger")
	}
	cfg.Chains = maps.Clone(cfg.Chains)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, logger: logger, chains: make(map[uint64]*endpoint, len(cfg.Chains))}
	for id, u := range cfg.Chains {
		rc, err := rpc.DialOptions(context.Background(), u)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("chain: chain %d: %w", id, err)
		}
		ep := &endpoint{id: id, url: u, rpc: rc, eth: ethclient.NewClient(rc)}
		ep.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
			Name:        fmt.Sprintf("chain-%d", id),
			MaxRequests: 1,
			Timeout:     cfg.BreakerOpenFor,
			ReadyToTrip: func(counts gobreaker.Counts) bool {
				return counts.ConsecutiveFailures >= cfg.BreakerFailures
			},
			IsSuccessful: breakerSuccess,
			IsExcluded:   breakerExcluded,
			OnStateChange: func(name string, from, to gobreaker.State) {
				level := slog.LevelInfo
				if to == gobreaker.StateOpen {
					level = slog.LevelWarn
				}
				logger.Log(context.Background(), level, "chain breaker state changed",
					"chain_id", id, "from", from.String(), "to", to.String())
			},
		})
		c.chains[id] = ep
	}
	return c, nil
}

// Close closes every endpoint's connection.
func (c *Client) Close() {
	for _, ep := range c.chains {
		ep.rpc.Close()
	}
}

// ChainIDs returns the configured chain ids, ascending.
func (c *Client) ChainIDs() []uint64 {
	return slices.Sorted(maps.Keys(c.chains))
}

// HasChain reports whether chainID is configured.
func (c *Client) HasChain(chainID uint64) bool {
	_, ok := c.chains[chainID]
	return ok
}

// BreakerState returns the state of a chain's breaker: "closed", "open" or
// "half-open".
func (c *Client) BreakerState(chainID uint64) (string, error) {
	ep, ok := c.chains[chainID]
	if !ok {
		return "", fmt.Errorf("%w: %d", ErrUnknownChain, chainID)
	}
	return ep.breaker.State().String(), nil
}

// do runs one RPC call on chainID through its breaker with the per-call
// timeout.
func do[T any](ctx context.Context, c *Client, chainID uint64, op string, call func(ctx context.Context, eth *ethclient.Client) (T, error)) (T, error) {
	var zero T
	ep, ok := c.chains[chainID]
	if !ok {
		return zero, fmt.Errorf("%w: %d", ErrUnknownChain, chainID)
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	out, err := ep.breaker.Execute(func() (any, error) {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
		return call(cctx, ep.eth)
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// The caller gave up; report that rather than blaming the chain.
			return zero, ctx.Err()
		}
		return zero, classify(chainID, op, err)
	}
	return out.(T), nil
}

// HeadBlock returns the number of the chain's latest block.
func (c *Client) HeadBlock(ctx context.Context, chainID uint64) (uint64, error) {
	return do(ctx, c, chainID, "eth_blockNumber", func(ctx context.Context, eth *ethclient.Client) (uint64, error) {
		return eth.BlockNumber(ctx)
	})
}

// ChainIDOf asks the endpoint configured for chainID which chain it serves
// (eth_chainId); a mismatch is a configuration error worth reporting.
func (c *Client) ChainIDOf(ctx context.Context, chainID uint64) (uint64, error) {
	id, err := do(ctx, c, chainID, "eth_chainId", func(ctx context.Context, eth *ethclient.Client) (*big.Int, error) {
		return eth.ChainID(ctx)
	})
	if err != nil {
		return 0, err
	}
	return id.Uint64(), nil
}

// CodeAt returns the code at addr at block (nil: latest).
func (c *Client) CodeAt(ctx context.Context, chainID uint64, addr common.Address, block *big.Int) ([]byte, error) {
	return do(ctx, c, chainID, "eth_getCode", func(ctx context.Context, eth *ethclient.Client) ([]byte, error) {
		return eth.CodeAt(ctx, addr, block)
	})
}

// FilterLogs runs eth_getLogs.
func (c *Client) FilterLogs(ctx context.Context, chainID uint64, q ethereum.FilterQuery) ([]types.Log, error) {
	return do(ctx, c, chainID, "eth_getLogs", func(ctx context.Context, eth *ethclient.Client) ([]types.Log, error) {
		return eth.FilterLogs(ctx, q)
	})
}

// callContract runs eth_call at block (nil: latest).
func (c *Client) callContract(ctx context.Context, chainID uint64, op string, to common.Address, data []byte, block *big.Int) ([]byte, error) {
	return do(ctx, c, chainID, op, func(ctx context.Context, eth *ethclient.Client) ([]byte, error) {
		return eth.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, block)
	})
}
