package node

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
)

// With mesh TLS on, an etcd that takes no client certificates is refused:
// anyone who reached it could register a fake instance.
func TestEtcdMustBeTLSWithMeshTLS(t *testing.T) {
	dir := t.TempDir()
	if err := meshtls.EnsureDev(dir, "", []string{"upload"}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Services: []string{"upload"}, MeshTLSDir: dir, EtcdEndpoints: []string{"https://etcd-0:2379", "http://etcd-1:2379"}}
	sources, err := loadMeshTLS(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcdClientTLS(cfg, sources); err == nil || !strings.Contains(err.Error(), "http://etcd-1:2379 is not https") {
		t.Errorf("an http endpoint with mesh TLS on: %v, want it refused by name", err)
	}
	cfg.EtcdEndpoints = cfg.EtcdEndpoints[:1]
	if tc, err := etcdClientTLS(cfg, sources); err != nil || tc == nil {
		t.Errorf("https endpoints: %v, %v; want a client configuration", tc, err)
	}
	if tc, err := etcdClientTLS(Config{EtcdEndpoints: []string{"http://etcd:2379"}}, nil); err != nil || tc != nil {
		t.Errorf("without mesh TLS: %v, %v; want cleartext", tc, err)
	}
}

// The test NATS server's users are the services a node runs; a service
// added to Names without one would be refused by the TLS test servers.
func TestNATSTestUsersAreTheServices(t *testing.T) {
	if !slices.Equal(natsservertest.Services, Names) {
		t.Errorf("natsservertest.Services = %v, want node.Names %v", natsservertest.Services, Names)
	}
}
