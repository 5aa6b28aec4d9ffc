package registry_test

import (
	"log/slog"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/streamgate/streamgate/internal/etcdserver"
	"github.com/streamgate/streamgate/internal/registry"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestReregisterAfterEtcdLostItsData restarts etcd on the same address with
// an empty data directory, as a dev etcd in a temp dir does: the lease is
// unknown to the new etcd, so the registrar must register again there.
func TestReregisterAfterEtcdLostItsData(t *testing.T) {
	cfg := etcdserver.Config{ClientAddr: freeAddr(t), PeerAddr: freeAddr(t), Dir: t.TempDir(), UnsafeNoFsync: true}
	first, err := etcdserver.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{first.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	reg := registry.NewRegistrar(cli, instance("worker", "w1"), registry.RegistrarOptions{TTL: time.Second}, discard())
	if err := reg.Register(t.Context()); err != nil {
		t.Fatal(err)
	}

	// The registrar's streams stay open, so Close waits out etcd's request
	// timeout (about 7 s) before cutting them.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cfg.Dir = t.TempDir()
	second, err := etcdserver.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	probe, err := clientv3.New(clientv3.Config{Endpoints: []string{second.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	// From revision 1: a put made before the watch starts is still seen.
	events := probe.Watch(t.Context(), reg.Key(), clientv3.WithRev(1))
	timeout := time.After(15 * time.Second)
	for registered := false; !registered; {
		select {
		case wr := <-events:
			if err := wr.Err(); err != nil {
				t.Fatal(err)
			}
			for _, ev := range wr.Events {
				registered = registered || ev.Type == clientv3.EventTypePut && ev.Kv.Lease != 0
			}
		case <-timeout:
			t.Fatal("not registered again in the new etcd")
		}
	}
	t.Logf("registered again %v after the restart", time.Since(start))

	if err := reg.Deregister(t.Context()); err != nil {
		t.Fatalf("Deregister from the new etcd: %v", err)
	}
	if resp, err := probe.Get(t.Context(), reg.Key()); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("after Deregister: %v, %v; want the key gone", resp, err)
	}
	// Clients first: their open streams would hold Close for seconds.
	_ = cli.Close()
	_ = probe.Close()
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
}
