package access_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/streamgate/streamgate/services/auth/access"
	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/memory"
)

// fakeChain answers instantly: every contract implements everything and
// every holder has a balance of 1.
type fakeChain struct{}

func (fakeChain) HasChain(uint64) bool { return true }
func (fakeChain) HeadBlock(context.Context, uint64) (uint64, error) {
	return 100, nil
}
func (fakeChain) SupportsInterface(context.Context, uint64, common.Address, [4]byte, uint64) (bool, error) {
	return true, nil
}
func (fakeChain) ERC20BalanceOf(context.Context, uint64, common.Address, common.Address, uint64) (*big.Int, error) {
	return big.NewInt(1), nil
}
func (fakeChain) ERC721BalanceOf(context.Context, uint64, common.Address, common.Address, uint64) (*big.Int, error) {
	return big.NewInt(1), nil
}
func (fakeChain) ERC721OwnerOf(_ context.Context, _ uint64, _ common.Address, _ *big.Int, _ uint64) (common.Address, error) {
	return common.Address{}, nil
}
func (fakeChain) ERC1155BalanceOf(context.Context, uint64, common.Address, common.Address, *big.Int, uint64) (*big.Int, error) {
	return big.NewInt(1), nil
}

func reportOpsPerSec(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// BenchmarkCheckAccessCached is CheckAccess served from the decision cache:
// a one-rule ERC-721 policy, already cached, for one address. "shared" is
// production's path: the cache service over h2c on loopback (memory
// backend), with auth's default 2s local copy ("shared+local") or none, so
// that every check is a GetMany round trip ("shared"). "memory" is the
// in-process MemoryCache, the floor for the cache's own cost.
func BenchmarkCheckAccessCached(b *testing.B) {
	caches := []struct {
		name  string
		cache func(b *testing.B) access.Cache
	}{
		{"memory", func(*testing.B) access.Cache { return access.NewMemoryCache(nil, 0) }},
		{"shared+local", func(b *testing.B) access.Cache {
			return newShared(b, serveCache(b, benchBackend(b)), access.SharedConfig{})
		}},
		{"shared", func(b *testing.B) access.Cache {
			return newShared(b, serveCache(b, benchBackend(b)), access.SharedConfig{LocalTTL: -1})
		}},
	}
	policy := all(r721(common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3"), "", ""))
	holder := common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
	ctx := context.Background()
	for _, c := range caches {
		ev, err := access.NewEvaluator(access.Config{PositiveTTL: time.Hour}, fakeChain{}, c.cache(b), discard())
		if err != nil {
			b.Fatal(err)
		}
		if d, err := ev.Check(ctx, policy, holder, false); err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				d, err := ev.Check(ctx, policy, holder, false)
				if err != nil || !d.Rules[0].Cached {
					b.Fatal(d, err)
				}
			}
			reportOpsPerSec(b, start)
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d, err := ev.Check(ctx, policy, holder, false)
					if err != nil || !d.Rules[0].Cached {
						b.Error(d, err)
						return
					}
				}
			})
			reportOpsPerSec(b, start)
		})
	}
}

func benchBackend(b *testing.B) cache.Backend {
	m, err := memory.New(memory.Config{MaxEntries: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkMapLookupBaseline is the floor: a bare map lookup of the same key
// under a read lock, no policy parsing.
func BenchmarkMapLookupBaseline(b *testing.B) {
	k := access.Key{ChainID: 1337, Contract: common.HexToAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
		Holder: common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")}
	m := map[access.Key]bool{k: true}
	var mu sync.RWMutex
	b.Run("serial", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			mu.RLock()
			ok := m[k]
			mu.RUnlock()
			if !ok {
				b.Fatal("miss")
			}
		}
		reportOpsPerSec(b, start)
	})
	b.Run("parallel", func(b *testing.B) {
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.RLock()
				ok := m[k]
				mu.RUnlock()
				if !ok {
					b.Error("miss")
					return
				}
			}
		})
		reportOpsPerSec(b, start)
	})
}
