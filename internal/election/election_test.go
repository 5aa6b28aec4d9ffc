package election_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/election"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

// TestOneLeaderAndFailover: of two candidates one leads; when it stops, the
// other is elected at once (it resigns rather than waiting for its TTL).
func TestOneLeaderAndFailover(t *testing.T) {
	_, etcd := etcdservertest.Start(t)
	const prefix = "/test/election"
	var leading atomic.Int32
	start := func(name string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			election.Run(ctx, etcd, election.Config{Prefix: prefix, Name: name, TTL: 10 * time.Second}, slog.New(slog.DiscardHandler), func(ctx context.Context) {
				if n := leading.Add(1); n != 1 {
					t.Errorf("%s leads with %d leaders", name, n)
				}
				<-ctx.Done()
				leading.Add(-1)
			})
		}()
		stop = func() { cancel(); <-done }
		t.Cleanup(stop)
		return stop
	}
	leader := func() string {
		name, err := election.Leader(t.Context(), etcd, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	if got := leader(); got != "" {
		t.Fatalf("leader before any candidate = %q", got)
	}
	stopA := start("a")
	poll.Until(t, 10*time.Second, "a leads", func() bool { return leader() == "a" && leading.Load() == 1 })
	start("b")
	stopA()
	// Well within the 10 s TTL: a resigned.
	poll.Until(t, 5*time.Second, "b takes over", func() bool { return leader() == "b" && leading.Load() == 1 })
}
