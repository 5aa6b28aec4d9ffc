// Package etcdservertest starts an embedded etcd for other packages' tests,
// so production code never imports testing.
package etcdservertest

import (
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/streamgate/streamgate/internal/etcdserver"
)

// Start runs a fresh single-node etcd in t.TempDir() and returns it with a
// connected client. Both are closed by t.Cleanup, the client first so the
// server does not wait for its streams.
func Start(t testing.TB) (*etcdserver.Server, *clientv3.Client) {
	t.Helper()
	srv, err := etcdserver.Start(t.Context(), etcdserver.Config{
		Dir:           t.TempDir(),
		UnsafeNoFsync: true,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close embedded etcd: %v", err)
		}
	})
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{srv.Endpoint()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return srv, cli
}
