package node_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/testing/pgtest"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/internal/testing/s3test"
	"github.com/streamgate/streamgate/node"
)

// TestAuthInstancesShareDecisions runs what a deployment runs: two auth
// instances (separate processes' worth of node.Run, separate data dirs, one
// PostgreSQL) and one cache service, on one etcd, one NATS and the dev
// chain. A decision one
// auth instance makes is served by the other from the cache service, and a
// Transfer of the token invalidates it on both.
func TestAuthInstancesShareDecisions(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	etcdSrv, _ := etcdservertest.Start(t)
	natsSrv := natsservertest.Start(t)
	dev, err := devchain.New(ctx, devchain.Config{BlockInterval: 250 * time.Millisecond}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)

	// Several auth instances share one PostgreSQL database (on SQLite a
	// second one is refused).
	dbURL := pgtest.Start(t).NewDatabase(t)
	settings := func() node.Settings {
		return node.Settings{
			DatabaseURL:   dbURL,
			DataDir:       t.TempDir(),
			PublicBaseURL: "http://127.0.0.1:8080",
			Chains:        map[uint64]string{devchain.ChainID: dev.RPCURL()},
		}
	}
	run := func(services ...string) map[string]string {
		t.Helper()
		addrs, _, err := startNode(t, etcdSrv.Endpoint(), natsSrv.ClientURL(), settings(), services...)
		if err != nil {
			t.Fatal(err)
		}
		return addrs
	}
	run("cache")
	client := func(addr string) authv1connect.AuthServiceClient {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: p}
		t.Cleanup(tr.CloseIdleConnections)
		return authv1connect.NewAuthServiceClient(&http.Client{Transport: tr}, "http://"+addr)
	}
	a, b := client(run("auth")["auth"]), client(run("auth")["auth"])

	key, alice := wallet(t)
	_, bob := wallet(t)
	if err := dev.Fund(ctx, alice, big.NewInt(1e18)); err != nil {
		t.Fatal(err)
	}
	tokenID, err := dev.Mint721(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	policy := &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
		ChainId: devchain.ChainID, ContractAddress: dev.PassAddress().Hex(),
		Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, TokenId: proto.String(tokenID.String()),
	}}}
	check := func(c authv1connect.AuthServiceClient, who common.Address) *authv1.CheckAccessResponse {
		t.Helper()
		res, err := c.CheckAccess(ctx, connect.NewRequest(&authv1.CheckAccessRequest{
			Target: &authv1.CheckAccessRequest_Policy{Policy: policy}, Address: who.Hex(),
		}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg
	}

	if r := check(a, alice); !r.GetAllowed() || r.GetRuleResults()[0].GetCached() {
		t.Fatalf("A's first check = %v; want allowed, read from the chain", r)
	}
	if r := check(b, alice); !r.GetAllowed() || !r.GetRuleResults()[0].GetCached() {
		t.Fatalf("B's check = %v; want A's decision, from the cache service", r)
	}

	if err := dev.Transfer721(ctx, key, bob, tokenID); err != nil {
		t.Fatal(err)
	}
	// Each instance's transfer watcher polls every 2s; the decision goes on
	// both, whichever instance writes the floor first, well before the 30s
	// positive TTL would have let it lapse.
	for name, c := range map[string]authv1connect.AuthServiceClient{"A": a, "B": b} {
		poll.Until(t, 20*time.Second, name+" to refuse the previous holder", func() bool { return !check(c, alice).GetAllowed() })
		if r := check(c, bob); !r.GetAllowed() {
			t.Fatalf("%s for the new holder = %v; want allowed", name, r)
		}
	}
}

func wallet(t *testing.T) (*ecdsa.PrivateKey, common.Address) {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, crypto.PubkeyToAddress(k.PublicKey)
}

// startNode runs services with node.Run until stop or the end of the test,
// and returns their addresses once they serve, or why they did not start.
func startNode(t testing.TB, etcdEndpoint, natsURL string, settings node.Settings, services ...string) (addrs map[string]string, stop func(), err error) {
	t.Helper()
	ready := make(chan map[string]string, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- node.Run(ctx, node.Config{
			Services:      services,
			EtcdEndpoints: []string{etcdEndpoint},
			NATSURL:       natsURL,
			RegistryTTL:   2 * time.Second,
			Settings:      settings,
			OnReady:       func(addrs map[string]string) { ready <- addrs },
		}, slog.New(slog.DiscardHandler))
	}()
	select {
	case addrs = <-ready:
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("node %v: %v", services, err)
				}
			})
		}
		t.Cleanup(stop)
		return addrs, stop, nil
	case err := <-done:
		cancel()
		return nil, nil, fmt.Errorf("node %v stopped before it was ready: %w", services, err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, nil, fmt.Errorf("node %v not ready within 60s", services)
	}
}

// TestLocalStateRunsOnce: a service whose state is on its instance's disk
// (metadata and auth on SQLite, upload) refuses to start a second time in
// the cluster, naming what would let it scale, and starts again once the
// first instance has stopped.
func TestLocalStateRunsOnce(t *testing.T) {
	etcdSrv, _ := etcdservertest.Start(t)
	natsSrv := natsservertest.Start(t)
	settings := node.Settings{DataDir: t.TempDir(), PublicBaseURL: "http://127.0.0.1:8080"}
	_, stop, err := startNode(t, etcdSrv.Endpoint(), natsSrv.ClientURL(), settings, "metadata")
	if err != nil {
		t.Fatal(err)
	}
	second := settings
	second.DataDir = t.TempDir()
	_, _, err = startNode(t, etcdSrv.Endpoint(), natsSrv.ClientURL(), second, "metadata")
	if err == nil || !strings.Contains(err.Error(), "another metadata instance is running") || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("second metadata on SQLite: %v; want a refusal naming PostgreSQL", err)
	}
	stop()
	if _, _, err := startNode(t, etcdSrv.Endpoint(), natsSrv.ClientURL(), second, "metadata"); err != nil {
		t.Fatalf("metadata after the first stopped: %v", err)
	}
}

// TestUploadInstancesOnPostgresAndS3: upload runs several instances, each
// on its own data dir, once its records are on PostgreSQL and its media
// store (which then holds the tus partial uploads) is S3; on PostgreSQL
// with a local media store a second instance is still refused, naming
// what lets it scale.
func TestUploadInstancesOnPostgresAndS3(t *testing.T) {
	etcdSrv, _ := etcdservertest.Start(t)
	natsSrv := natsservertest.Start(t)
	s3Srv := s3test.Start(t)
	s3Srv.SetEnv(t)
	db := pgtest.Start(t)

	local := node.Settings{DataDir: t.TempDir(), PublicBaseURL: "http://127.0.0.1:8080", DatabaseURL: db.NewDatabase(t)}
	_, stop, err := startNode(t, etcdSrv.Endpoint(), natsSrv.ClientURL(), local, "upload")
	if err != nil {
		t.Fatal(err)
	}
	second := local
	second.DataDir = t.TempDir()
	_, _, err = startNode(t, etcdSrv.Endpoint(), natsSrv.ClientURL(), second, "upload")
	if err == nil || !strings.Contains(err.Error(), "another upload instance is running") || !strings.Contains(err.Error(), "S3") {
		t.Fatalf("second upload with a local media store: %v; want a refusal naming S3", err)
	}
	stop()

	shared := node.Settings{PublicBaseURL: "http://127.0.0.1:8080", DatabaseURL: db.NewDatabase(t), BlobURL: s3Srv.URL("media")}
	for i := range 2 {
		s := shared
		s.DataDir = t.TempDir()
		if _, _, err := startNode(t, etcdSrv.Endpoint(), natsSrv.ClientURL(), s, "upload"); err != nil {
			t.Fatalf("upload instance %d on PostgreSQL and S3: %v", i+1, err)
		}
	}
}
