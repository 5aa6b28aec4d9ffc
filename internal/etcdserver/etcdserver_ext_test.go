package etcdserver_test

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/streamgate/streamgate/internal/etcdserver"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
)

func newClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return cli
}

func TestStartEndpointAndRestart(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	cfg := etcdserver.Config{Dir: dir, UnsafeNoFsync: true}

	srv, err := etcdserver.Start(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	u, err := url.Parse(srv.Endpoint())
	if err != nil {
		t.Fatalf("Endpoint %q: %v", srv.Endpoint(), err)
	}
	if u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "0" {
		t.Fatalf("Endpoint = %q, want http://127.0.0.1:<bound port>", srv.Endpoint())
	}

	cli := newClient(t, srv.Endpoint())
	if _, err := cli.Put(t.Context(), "/k", "v1"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	_ = cli.Close()
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Same directory: the data survives a restart.
	srv2, err := etcdserver.Start(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer srv2.Close()
	cli2 := newClient(t, srv2.Endpoint())
	defer cli2.Close()
	resp, err := cli2.Get(t.Context(), "/k")
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("Get after restart = %v, want one kv with value v1", resp.Kvs)
	}
}

func TestStartErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		cfg     etcdserver.Config
		wantErr string
	}{
		{name: "no dir", ctx: t.Context(), cfg: etcdserver.Config{}, wantErr: "Dir is required"},
		{name: "bad client addr", ctx: t.Context(), cfg: etcdserver.Config{Dir: t.TempDir(), ClientAddr: "127.0.0.1:notaport"}, wantErr: "etcdserver"},
		{name: "canceled", ctx: canceled, cfg: etcdserver.Config{Dir: t.TempDir()}, wantErr: "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := etcdserver.Start(tt.ctx, tt.cfg, nil)
			if err == nil {
				srv.Close()
				t.Fatalf("Start succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestEtcdServerTest(t *testing.T) {
	_, cli := etcdservertest.Start(t)
	if _, err := cli.Put(t.Context(), "/a", "b"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	resp, err := cli.Get(t.Context(), "/a")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("Get = %v, %v; want one kv", resp, err)
	}
}

// recorder is a slog.Handler that keeps the records it is given.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// TestQuietLogging: etcd's own logs reach the injected logger, at error
// level only, and its shutdown noise (listeners reported closed as errors)
// is demoted to debug.
func TestQuietLogging(t *testing.T) {
	rec := &recorder{}
	srv, err := etcdserver.Start(t.Context(), etcdserver.Config{Dir: t.TempDir(), UnsafeNoFsync: true}, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var etcdDebug int
	for _, r := range rec.records {
		if r.Level >= slog.LevelError {
			t.Errorf("error logged by a clean start and stop: %s", r.Message)
		}
		if r.Level == slog.LevelDebug {
			etcdDebug++
		}
	}
	if len(rec.records) > 10 {
		t.Errorf("%d records for a start and stop, want a quiet few", len(rec.records))
	}
	t.Logf("%d records, %d of them etcd shutdown noise at debug", len(rec.records), etcdDebug)
}

// TestThreeMemberCluster runs the static cluster `streamgate cluster`
// starts: a write through one member is read through another, and the
// cluster keeps accepting writes with one member gone. Peers and clients
// talk mutual TLS, as in `streamgate cluster`.
func TestThreeMemberCluster(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	certs := devCerts(t, "upload")
	upload := source(t, certs, "upload")
	var peers, names []string
	for i := range 3 {
		names = append(names, "m"+strconv.Itoa(i+1))
		peers = append(peers, freeAddr(t))
	}
	var initial []string
	for i := range names {
		initial = append(initial, names[i]+"=https://"+peers[i])
	}
	srvs := make([]*etcdserver.Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		cfg := etcdserver.Config{Dir: t.TempDir(), Name: names[i], PeerAddr: peers[i], InitialCluster: strings.Join(initial, ","), UnsafeNoFsync: true, TLSDir: filepath.Join(certs, "etcd")}
		// Together: each waits for a quorum before it is ready.
		wg.Go(func() { srvs[i], errs[i] = etcdserver.Start(t.Context(), cfg, logger) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i+1, err)
		}
		t.Cleanup(func() { _ = srvs[i].Close() })
	}
	a, b := tlsClient(t, srvs[0].Endpoint(), upload.ClientConfig("etcd")), tlsClient(t, srvs[1].Endpoint(), upload.ClientConfig("etcd"))
	if _, err := a.Put(t.Context(), "/k", "v"); err != nil {
		t.Fatalf("Put via member 1: %v", err)
	}
	res, err := b.Get(t.Context(), "/k")
	if err != nil || len(res.Kvs) != 1 || string(res.Kvs[0].Value) != "v" {
		t.Fatalf("Get via member 2 = %v, %v; want v", res, err)
	}
	members, err := b.MemberList(t.Context())
	if err != nil || len(members.Members) != 3 {
		t.Fatalf("MemberList = %v, %v; want 3 members", members, err)
	}
	_ = srvs[0].Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := b.Put(ctx, "/k", "v2"); err != nil {
		t.Fatalf("Put with one member of three down: %v", err)
	}

	bad := etcdserver.Config{Dir: t.TempDir(), Name: "m1", InitialCluster: "m1=http://127.0.0.1:1"}
	if _, err := etcdserver.Start(t.Context(), bad, logger); err == nil || !strings.Contains(err.Error(), "fixed PeerAddr") {
		t.Errorf("a cluster member on a random peer port: %v, want an error naming the fixed PeerAddr", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
