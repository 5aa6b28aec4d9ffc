package etcdlocker_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/streamgate/streamgate/internal/etcdserver"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/services/upload/etcdlocker"
)

// instance is one upload instance's locker, with its own etcd client.
func instance(t *testing.T, srv *etcdserver.Server, ttl time.Duration) (*etcdlocker.Locker, *clientv3.Client) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	l, err := etcdlocker.New(cli, etcdlocker.Config{TTL: ttl}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, cli
}

func mustLock(t *testing.T, l tusd.Locker, id string, requestRelease func()) tusd.Lock {
	t.Helper()
	k, err := l.NewLock(id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := k.Lock(ctx, requestRelease); err != nil {
		t.Fatalf("lock %s: %v", id, err)
	}
	return k
}

// tryLock tries for d and returns Lock's error.
func tryLock(t *testing.T, l tusd.Locker, id string, d time.Duration) (tusd.Lock, error) {
	t.Helper()
	k, err := l.NewLock(id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	return k, k.Lock(ctx, func() {})
}

// signal is a requestRelease that records its calls.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) fn() func() { return func() { s.once.Do(func() { close(s.ch) }) } }

func (s *signal) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-s.ch:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: requestRelease was not called", what)
	}
}

func TestTimeoutAndRequestReleaseAcrossInstances(t *testing.T) {
	srv, _ := etcdservertest.Start(t)
	a, _ := instance(t, srv, 10*time.Second)
	b, _ := instance(t, srv, 10*time.Second)

	asked := newSignal()
	held := mustLock(t, a, "upl_1", asked.fn())

	// B cannot have it while A holds it, and asks A to let go.
	start := time.Now()
	if _, err := tryLock(t, b, "upl_1", 500*time.Millisecond); !errors.Is(err, tusd.ErrLockTimeout) {
		t.Fatalf("lock held elsewhere: err = %v, want ErrLockTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %s, want about 500ms", d)
	}
	asked.wait(t, "a waiter on another instance")

	// Another upload is not held.
	other := mustLock(t, b, "upl_2", func() {})
	if err := other.Unlock(); err != nil {
		t.Fatal(err)
	}

	// Once A lets go, B gets it; a timed-out waiter left nothing behind.
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	k, err := tryLock(t, b, "upl_1", 5*time.Second)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	if err := k.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestHolderReleasesOnRequest is tusd's case: the holder's requestRelease
// ends its request, which unlocks; the waiter on the other instance then
// gets the lock well before its timeout.
func TestHolderReleasesOnRequest(t *testing.T) {
	srv, _ := etcdservertest.Start(t)
	a, _ := instance(t, srv, 10*time.Second)
	b, _ := instance(t, srv, 10*time.Second)

	var held tusd.Lock
	released := make(chan error, 1)
	held = mustLock(t, a, "upl_1", func() { go func() { released <- held.Unlock() }() })

	start := time.Now()
	k, err := tryLock(t, b, "upl_1", 15*time.Second)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	if err := <-released; err != nil {
		t.Fatalf("holder's unlock: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("waited %s for a holder that released on request", d)
	}
	if err := k.Unlock(); err != nil {
		t.Fatal(err)
	}

	// In one process too: the second request asks the first.
	asked := newSignal()
	first := mustLock(t, a, "upl_3", asked.fn())
	if _, err := tryLock(t, a, "upl_3", 300*time.Millisecond); !errors.Is(err, tusd.ErrLockTimeout) {
		t.Fatalf("second lock in one process: err = %v, want ErrLockTimeout", err)
	}
	asked.wait(t, "a waiter in the same process")
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestMutualExclusion has requests on two instances (and several per
// instance) take one upload's lock in turn: never two at once.
func TestMutualExclusion(t *testing.T) {
	srv, _ := etcdservertest.Start(t)
	lockers := make([]tusd.Locker, 2)
	for i := range lockers {
		lockers[i], _ = instance(t, srv, 10*time.Second)
	}
	var (
		wg      sync.WaitGroup
		inside  atomic.Int32
		maxSeen atomic.Int32
		turns   atomic.Int32
	)
	for i := range 6 {
		wg.Go(func() {
			for range 5 {
				k, err := lockers[i%2].NewLock("upl_1")
				if err != nil {
					t.Error(err)
					return
				}
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				err = k.Lock(ctx, func() {})
				cancel()
				if err != nil {
					t.Errorf("lock: %v", err)
					return
				}
				n := inside.Add(1)
				if n > maxSeen.Load() {
					maxSeen.Store(n)
				}
				time.Sleep(2 * time.Millisecond) // hold it long enough for an overlap to show
				inside.Add(-1)
				turns.Add(1)
				if err := k.Unlock(); err != nil {
					t.Errorf("unlock: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got := maxSeen.Load(); got != 1 {
		t.Fatalf("%d holders at once, want 1", got)
	}
	if got := turns.Load(); got != 30 {
		t.Fatalf("%d turns, want 30", got)
	}
}

// TestCrashedHolderFreesTheLock: the holder's instance loses etcd without
// unlocking (its client closes, its keep-alive stops); once the lease's TTL
// passes the other instance gets the lock.
func TestCrashedHolderFreesTheLock(t *testing.T) {
	srv, _ := etcdservertest.Start(t)
	const ttl = 2 * time.Second
	a, aCli := instance(t, srv, ttl)
	b, _ := instance(t, srv, ttl)

	lost := newSignal()
	mustLock(t, a, "upl_1", lost.fn())
	if _, err := tryLock(t, b, "upl_1", 300*time.Millisecond); !errors.Is(err, tusd.ErrLockTimeout) {
		t.Fatalf("while held: err = %v, want ErrLockTimeout", err)
	}
	crash := time.Now()
	if err := aCli.Close(); err != nil {
		t.Fatal(err)
	}
	k, err := tryLock(t, b, "upl_1", 20*time.Second)
	if err != nil {
		t.Fatalf("lock after the holder crashed: %v", err)
	}
	t.Logf("acquired %s after the holder's client closed (TTL %s)", time.Since(crash).Round(time.Millisecond), ttl)
	// The holder was told its lock is gone.
	lost.wait(t, "a holder whose session ended")
	if err := k.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, cli := etcdservertest.Start(t)
	for _, prefix := range []string{"/no-slash", "/"} {
		if _, err := etcdlocker.New(cli, etcdlocker.Config{Prefix: prefix}, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("prefix %q accepted", prefix)
		}
	}
	l, err := etcdlocker.New(cli, etcdlocker.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.NewLock("a/b"); err == nil {
		t.Error("id with a slash accepted")
	}
}
