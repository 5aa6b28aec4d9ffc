package etcdserver_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/streamgate/streamgate/internal/etcdserver"
	"github.com/streamgate/streamgate/internal/meshtls"
)

// devCerts makes a CA and certificates for etcd and the named services in
// a fresh directory, as `streamgate dev` does.
func devCerts(t *testing.T, services ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := meshtls.EnsureDev(dir, meshtls.DefaultTrustDomain, append([]string{"etcd"}, services...)); err != nil {
		t.Fatalf("EnsureDev: %v", err)
	}
	return dir
}

// source loads service's certificate from a devCerts directory.
func source(t *testing.T, dir, service string) *meshtls.Source {
	t.Helper()
	src, err := meshtls.Load(meshtls.Options{Dir: filepath.Join(dir, service), Service: service})
	if err != nil {
		t.Fatalf("load %s: %v", service, err)
	}
	return src
}

func tlsClient(t *testing.T, endpoint string, cfg *tls.Config) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, TLS: cfg, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// put writes one key within a short deadline: a refused handshake shows as
// a call that never gets through.
func put(cli *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, "/streamgate/registry/auth/forged", `{"address":"10.0.0.66:8080"}`)
	return err
}

func startTLS(t *testing.T, certs string) *etcdserver.Server {
	t.Helper()
	srv, err := etcdserver.Start(t.Context(), etcdserver.Config{Dir: t.TempDir(), TLSDir: filepath.Join(certs, "etcd"), UnsafeNoFsync: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// An attacker on the network who can reach etcd but holds no certificate of
// the mesh CA cannot write a registration (the fake-auth-instance attack).
func TestTLSRefusesClientsWithoutAMeshCertificate(t *testing.T) {
	certs := devCerts(t, "upload")
	srv := startTLS(t, certs)
	if !strings.HasPrefix(srv.Endpoint(), "https://") {
		t.Fatalf("Endpoint = %q, want https://", srv.Endpoint())
	}
	upload := source(t, certs, "upload")
	if err := put(tlsClient(t, srv.Endpoint(), upload.ClientConfig("etcd"))); err != nil {
		t.Fatalf("Put with a mesh certificate: %v", err)
	}

	other := devCerts(t, "upload") // same names, another CA
	cases := map[string]*clientv3.Client{
		"no certificate": tlsClient(t, srv.Endpoint(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}), //nolint:gosec // the attacker's client
		"another CA":     tlsClient(t, srv.Endpoint(), source(t, other, "upload").ClientConfig("etcd")),
		"cleartext":      tlsClient(t, "http"+strings.TrimPrefix(srv.Endpoint(), "https"), nil),
	}
	for name, cli := range cases {
		if err := put(cli); err == nil {
			t.Errorf("%s: Put succeeded, want refused", name)
		}
	}
}

// The client checks the server too: an endpoint whose certificate names
// another service (here: etcd's address answered by a server that is not
// etcd, as the client's config says) gets no request.
func TestTLSClientChecksItIsEtcd(t *testing.T) {
	certs := devCerts(t, "upload")
	srv := startTLS(t, certs)
	if err := put(tlsClient(t, srv.Endpoint(), source(t, certs, "upload").ClientConfig("nats"))); err == nil {
		t.Fatal("Put to a server that does not name the expected service succeeded")
	}
}
