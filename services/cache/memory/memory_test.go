package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/cachetest"
	"github.com/streamgate/streamgate/services/cache/memory"
)

func TestConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cache.Backend {
		b, err := memory.New(memory.Config{MaxEntries: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// Beyond MaxEntries otter evicts; each eviction is counted and the
// namespace's counters follow.
func TestEvictions(t *testing.T) {
	b, err := memory.New(memory.Config{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const n = 1000
	for i := range n {
		e := cache.Entry{Key: fmt.Sprintf("k%04d", i), Value: []byte("v"), ExpireTime: time.Now().Add(time.Minute)}
		if err := b.Set(t.Context(), "ns", e, 1<<30); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := b.Stats(t.Context(), "ns")
		if err != nil {
			t.Fatal(err)
		}
		s := st[0]
		if s.Entries <= 100 && s.Evictions > 0 && s.Entries+s.Evictions == n && s.Bytes == s.Entries*6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want entries <= 100, entries + evictions = %d, bytes = 6 * entries", s, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
