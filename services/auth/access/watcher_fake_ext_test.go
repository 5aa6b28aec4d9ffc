package access_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/auth/access"
)

// fakeLogs is a LogSource with a settable head, canned logs and failures.
type fakeLogs struct {
	mu      sync.Mutex
	head    uint64
	fail    bool
	fails   int
	logs    []types.Log
	queries [][2]uint64
}

func (f *fakeLogs) HeadBlock(context.Context, uint64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head, nil
}

func (f *fakeLogs) FilterLogs(_ context.Context, _ uint64, q ethereum.FilterQuery) ([]types.Log, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		f.fails++
		return nil, errors.New("endpoint down")
	}
	from, to := q.FromBlock.Uint64(), q.ToBlock.Uint64()
	f.queries = append(f.queries, [2]uint64{from, to})
	var out []types.Log
	for _, l := range f.logs {
		if l.BlockNumber >= from && l.BlockNumber <= to {
			out = append(out, l)
		}
	}
	return out, nil
}

func (f *fakeLogs) set(fn func(f *fakeLogs)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func addrTopic(a common.Address) common.Hash { return common.BytesToHash(a.Bytes()) }

func TestWatcherRangesRetriesAndLogKinds(t *testing.T) {
	contract := common.HexToAddress("0x00000000000000000000000000000000000000c1")
	alice := common.HexToAddress("0x00000000000000000000000000000000000000a1")
	bob := common.HexToAddress("0x00000000000000000000000000000000000000b1")
	op := common.HexToAddress("0x00000000000000000000000000000000000000e1")
	src := &fakeLogs{head: 100}
	ev := newEvaluator(t, fakeChain{}, access.Config{})
	w, err := access.NewWatcher(access.WatcherConfig{
		Contracts:        []access.ContractRef{{ChainID: 7, Contract: contract}},
		PollInterval:     20 * time.Millisecond,
		MaxBlockRange:    1000,
		MaxRangesPerPoll: 2,
	}, src, ev, discard())
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		from, to common.Address
		block    uint64
	}
	var mu sync.Mutex
	var calls []call
	w.OnTransfer(func(_ context.Context, chainID uint64, c, from, to common.Address, block uint64) {
		if chainID != 7 || c != contract {
			t.Errorf("callback for chain %d contract %s", chainID, c.Hex())
		}
		mu.Lock()
		calls = append(calls, call{from, to, block})
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	poll.Until(t, 10*time.Second, "start at head 100", func() bool { return w.LastBlock(7) == 100 })

	src.set(func(f *fakeLogs) {
		f.logs = []types.Log{
			// ERC-721 Transfer: seen.
			{Address: contract, BlockNumber: 150, Topics: []common.Hash{access.TopicTransfer, addrTopic(alice), addrTopic(bob), {31: 1}}},
			// ERC-20 Transfer (3 topics): ignored.
			{Address: contract, BlockNumber: 160, Topics: []common.Hash{access.TopicTransfer, addrTopic(bob), addrTopic(alice)}},
			// Removed by a reorg: ignored.
			{Address: contract, BlockNumber: 170, Removed: true, Topics: []common.Hash{access.TopicTransfer, addrTopic(bob), addrTopic(alice), {31: 2}}},
			// ERC-1155 TransferBatch far ahead: seen in a later range.
			{Address: contract, BlockNumber: 2400, Topics: []common.Hash{access.TopicTransferBatch, addrTopic(op), addrTopic(bob), addrTopic(alice)}},
			// ERC-1155 TransferSingle burn.
			{Address: contract, BlockNumber: 2500, Topics: []common.Hash{access.TopicTransferSingle, addrTopic(op), addrTopic(alice), {}}},
		}
		f.fail = true
		f.head = 2600
	})
	// Failing endpoint: the watcher does not skip blocks.
	poll.Until(t, 10*time.Second, "three failed polls", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.fails >= 3
	})
	if got := w.LastBlock(7); got != 100 {
		t.Fatalf("LastBlock = %d while the endpoint fails, want 100", got)
	}
	src.set(func(f *fakeLogs) { f.fail = false })
	poll.Until(t, 10*time.Second, "catch up to 2600", func() bool { return w.LastBlock(7) == 2600 })

	src.mu.Lock()
	queries := append([][2]uint64(nil), src.queries...)
	src.mu.Unlock()
	want := [][2]uint64{{101, 1100}, {1101, 2100}, {2101, 2600}}
	if len(queries) != len(want) {
		t.Fatalf("queries = %v, want %v", queries, want)
	}
	for i := range want {
		if queries[i] != want[i] {
			t.Fatalf("queries = %v, want %v (bounded ranges, at most 2 per poll)", queries, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	wantCalls := []call{{alice, bob, 150}, {bob, alice, 2400}, {alice, common.Address{}, 2500}}
	if len(calls) != len(wantCalls) {
		t.Fatalf("callbacks = %+v, want %+v", calls, wantCalls)
	}
	for i := range wantCalls {
		if calls[i] != wantCalls[i] {
			t.Fatalf("callbacks = %+v, want %+v", calls, wantCalls)
		}
	}
}

// TestWatcherFollowsConfiguredChainWithoutContracts: a chain in ChainIDs has
// its head followed from the start, with no eth_getLogs while no contract is
// followed (an empty address list would match every contract).
func TestWatcherFollowsConfiguredChainWithoutContracts(t *testing.T) {
	src := &fakeLogs{head: 10}
	ev := newEvaluator(t, fakeChain{}, access.Config{})
	w, err := access.NewWatcher(access.WatcherConfig{ChainIDs: []uint64{7}, PollInterval: 20 * time.Millisecond}, src, ev, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	poll.Until(t, 10*time.Second, "start at head 10", func() bool { return w.LastBlock(7) == 10 })
	src.set(func(f *fakeLogs) { f.head = 25 })
	poll.Until(t, 10*time.Second, "head followed to 25", func() bool { return w.LastBlock(7) == 25 })
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.queries) != 0 {
		t.Fatalf("eth_getLogs with no contract to follow: %v", src.queries)
	}
}
