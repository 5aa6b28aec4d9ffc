package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// Event signatures the watcher follows.
var (
	// TopicTransfer is ERC-721 (and ERC-20) Transfer(address,address,uint256).
	// Only the ERC-721 form, with the token id indexed (4 topics), is used.
	TopicTransfer = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))
	// TopicTransferSingle is ERC-1155 TransferSingle(operator,from,to,id,value).
	TopicTransferSingle = crypto.Keccak256Hash([]byte("TransferSingle(address,address,address,uint256,uint256)"))
	// TopicTransferBatch is ERC-1155 TransferBatch(operator,from,to,ids,values).
	TopicTransferBatch = crypto.Keccak256Hash([]byte("TransferBatch(address,address,address,uint256[],uint256[])"))
)

// LogSource is what the Watcher reads; *chain.Client implements it.
type LogSource interface {
	HeadBlock(ctx context.Context, chainID uint64) (uint64, error)
	FilterLogs(ctx context.Context, chainID uint64, q ethereum.FilterQuery) ([]types.Log, error)
}

// TransferFunc is called once per transfer log seen, after the cached
// decisions of from and to were invalidated. from or to is the zero address
// for a mint or burn. The service publishes ownership.changed from it.
type TransferFunc func(ctx context.Context, chainID uint64, contract, from, to common.Address, block uint64)

// WatcherConfig tunes the Watcher.
type WatcherConfig struct {
	// Contracts are followed from the start, besides those the Evaluator
	// sees in policies.
	Contracts []ContractRef
	// ChainIDs are chains whose head is followed from the start of Run even
	// before any policy names one of their contracts, so that a contract
	// first seen later is followed from the block its first read saw, not
	// from a later poll (a transfer in between would be missed).
	ChainIDs []uint64
	// PollInterval is how often each chain's head is polled. Default 2s.
	PollInterval time.Duration
	// MaxBlockRange bounds each eth_getLogs call. Default 1000 blocks.
	MaxBlockRange uint64
	// MaxRangesPerPoll bounds the catch-up work of one poll. Default 10.
	MaxRangesPerPoll int
}

// Watcher follows ERC-721 Transfer and ERC-1155 TransferSingle/Batch logs of
// the contracts that matter, invalidates the evaluator's cached observations
// for both sides of each transfer, and reports the transfer.
//
// It polls eth_getLogs by block range from the last head it processed (the
// HTTP endpoints StreamGate uses have no subscriptions). It starts at the
// head current when Run begins: nothing is cached before that. Reorgs are
// not followed: a transfer that is re-orged out still invalidated the cache,
// which is harmless (the next read asks the chain).
type Watcher struct {
	cfg    WatcherConfig
	src    LogSource
	eval   *Evaluator
	logger *slog.Logger

	mu         sync.Mutex
	onTransfer TransferFunc
	heads      map[uint64]uint64 // last block processed per chain
}

// NewWatcher builds a Watcher over src for the contracts eval sees.
func NewWatcher(cfg WatcherConfig, src LogSource, eval *Evaluator, logger *slog.Logger) (*Watcher, error) {
	if src == nil || eval == nil {
		return nil, errors.New("access: watcher needs a log source and an evaluator")
	}
	if logger == nil {
		return nil, errors.New("access: nil logger")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.MaxBlockRange == 0 {
		cfg.MaxBlockRange = 1000
	}
	if cfg.MaxRangesPerPoll <= 0 {
		cfg.MaxRangesPerPoll = 10
	}
	cfg.Contracts = slices.Clone(cfg.Contracts)
	cfg.ChainIDs = slices.Clone(cfg.ChainIDs)
	return &Watcher{cfg: cfg, src: src, eval: eval, logger: logger, heads: make(map[uint64]uint64)}, nil
}

// OnTransfer sets the transfer hook. Set it before Run.
func (w *Watcher) OnTransfer(fn TransferFunc) {
	w.mu.Lock()
	w.onTransfer = fn
	w.mu.Unlock()
}

// LastBlock returns the last block processed on chainID (0: none yet).
func (w *Watcher) LastBlock(chainID uint64) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.heads[chainID]
}

// Run polls until ctx is done, then returns nil. Chain errors are logged
// and retried on the next tick: they never stop the watcher.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	for {
		w.pollAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// contracts groups the followed contracts by chain.
func (w *Watcher) contracts() map[uint64][]common.Address {
	set := make(map[ContractRef]struct{})
	for _, c := range w.cfg.Contracts {
		set[c] = struct{}{}
	}
	for _, c := range w.eval.SeenContracts() {
		set[c] = struct{}{}
	}
	out := make(map[uint64][]common.Address)
	for c := range set {
		out[c.ChainID] = append(out[c.ChainID], c.Contract)
	}
	for id := range out {
		slices.SortFunc(out[id], func(a, b common.Address) int { return a.Cmp(b) })
	}
	return out
}

func (w *Watcher) pollAll(ctx context.Context) {
	ids := maps.Keys(w.contracts())
	chains := slices.Sorted(ids)
	for _, id := range w.cfg.ChainIDs {
		if !slices.Contains(chains, id) {
			chains = append(chains, id)
		}
	}
	var wg sync.WaitGroup
	for _, id := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.poll(ctx, id); err != nil && ctx.Err() == nil {
				w.logger.Warn("transfer watch poll failed", "chain_id", id, "err", err)
			}
		}()
	}
	wg.Wait()
}

// poll processes the blocks after the last one seen, up to the head, in
// bounded ranges.
//
// The contracts are listed after the head is read: a contract the evaluator
// first sees after that listing was read at a block at or after head (it is
// remembered before it is read), so its transfers up to head are already
// reflected in that read, and the next poll follows it from head+1.
func (w *Watcher) poll(ctx context.Context, chainID uint64) error {
	head, err := w.src.HeadBlock(ctx, chainID)
	if err != nil {
		return err
	}
	contracts := w.contracts()[chainID]
	w.mu.Lock()
	last, started := w.heads[chainID]
	if !started {
		w.heads[chainID] = head
	}
	w.mu.Unlock()
	if !started {
		return nil
	}
	if len(contracts) == 0 {
		// Nothing to follow yet: an empty address list would match every
		// contract. Move the head on.
		w.mu.Lock()
		w.heads[chainID] = max(w.heads[chainID], head)
		w.mu.Unlock()
		return nil
	}
	for n := 0; n < w.cfg.MaxRangesPerPoll && last < head; n++ {
		from := last + 1
		to := min(head, from+w.cfg.MaxBlockRange-1)
		logs, err := w.src.FilterLogs(ctx, chainID, ethereum.FilterQuery{
			FromBlock: new(big.Int).SetUint64(from),
			ToBlock:   new(big.Int).SetUint64(to),
			Addresses: contracts,
			Topics:    [][]common.Hash{{TopicTransfer, TopicTransferSingle, TopicTransferBatch}},
		})
		if err != nil {
			return fmt.Errorf("logs %d-%d: %w", from, to, err)
		}
		for i := range logs {
			w.handle(ctx, chainID, &logs[i])
		}
		last = to
		w.mu.Lock()
		w.heads[chainID] = last
		w.mu.Unlock()
	}
	return nil
}

func (w *Watcher) handle(ctx context.Context, chainID uint64, l *types.Log) {
	if l.Removed || len(l.Topics) == 0 {
		return
	}
	var from, to common.Address
	switch l.Topics[0] {
	case TopicTransfer:
		if len(l.Topics) != 4 { // ERC-20 Transfer: value not indexed
			return
		}
		from, to = topicAddress(l.Topics[1]), topicAddress(l.Topics[2])
	case TopicTransferSingle, TopicTransferBatch:
		if len(l.Topics) != 4 {
			return
		}
		from, to = topicAddress(l.Topics[2]), topicAddress(l.Topics[3])
	default:
		return
	}
	holders := make([]common.Address, 0, 2)
	for _, a := range []common.Address{from, to} {
		if a != (common.Address{}) {
			holders = append(holders, a)
		}
	}
	w.eval.invalidateAt(ctx, chainID, l.Address, l.BlockNumber, holders...)
	w.logger.Debug("token transfer", "chain_id", chainID, "contract", l.Address.Hex(),
		"from", from.Hex(), "to", to.Hex(), "block", l.BlockNumber)
	w.mu.Lock()
	fn := w.onTransfer
	w.mu.Unlock()
	if fn != nil {
		fn(ctx, chainID, l.Address, from, to, l.BlockNumber)
	}
}

func topicAddress(h common.Hash) common.Address { return common.BytesToAddress(h[12:]) }
