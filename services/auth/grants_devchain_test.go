package auth

import (
	"context"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/testing/pgtest"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/auth/access"
)

// TestGrantsOfOneInstanceRevokedByAnother: two auth instances on one
// PostgreSQL database and a dev chain. The viewer gets playback tokens
// from A for a pass-gated (ERC-721) and a token-gated (ERC-20) video. Only
// B runs the Transfer watcher: when the pass moves, B revokes A's grant;
// when the ERC-20 balance moves (no watcher follows it), B's
// ReverifyGrants revokes A's other grant.
func TestGrantsOfOneInstanceRevokedByAnother(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	viewer, buyer := newWallet(t), newWallet(t)
	dc, chains := startDevChain(t, viewer)
	token, err := dc.DeployToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.MintToken(ctx, token, viewer.addr, big.NewInt(1)); err != nil {
		t.Fatal(err)
	}
	passID, err := dc.Mint721(ctx, viewer.addr)
	if err != nil {
		t.Fatal(err)
	}

	_, bus := eventstest.Bus(t)
	got := eventstest.Collect[*eventsv1.OwnershipChanged](t, bus, "test-grants")
	next := func(what string) *eventsv1.OwnershipChanged {
		t.Helper()
		select {
		case oc := <-got:
			return oc
		case <-time.After(60 * time.Second):
			t.Fatalf("no ownership.changed within 60s of %s", what)
			return nil
		}
	}

	videos := &fakeVideos{videos: map[string]*metadatav1.Video{
		"vid_pass": readyVideo("vid_pass", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
			ChainId: devchain.ChainID, ContractAddress: dc.PassAddress().Hex(), Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
		}}}),
		"vid_erc20": readyVideo("vid_erc20", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
			ChainId: devchain.ChainID, ContractAddress: token.Hex(), Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC20, MinBalance: "1",
		}}}),
	}}
	url := pgtest.Start(t).NewDatabase(t)
	// Each instance has its own evaluator (and decision cache), as each
	// process does.
	instance := func() (*env, *access.Evaluator) {
		ev, err := access.NewEvaluator(access.Config{}, chains, nil, logger)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := New(Config{Domain: testDomain, URI: testURI, DatabaseURL: url, AllowedChainIDs: []uint64{devchain.ChainID}},
			chains, evaluatorChecker{ev}, videos, logger, WithPublisher(bus))
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle(svc.Handler(connect.WithInterceptors(identity.NewInterceptor(false))))
		srv := httptest.NewServer(mux)
		t.Cleanup(func() { srv.Close(); svc.Close() })
		return &env{t: t, svc: svc, client: authv1connect.NewAuthServiceClient(srv.Client(), srv.URL), url: srv.URL}, ev
	}
	a, _ := instance()
	b, evB := instance()

	// A watcher follows the contracts its own evaluator has met (and
	// those configured): B's has not evaluated the pass, so it is named.
	watcher, err := access.NewWatcher(access.WatcherConfig{
		Contracts: []access.ContractRef{{ChainID: devchain.ChainID, Contract: dc.PassAddress()}},
		ChainIDs:  []uint64{devchain.ChainID}, PollInterval: 100 * time.Millisecond,
	}, chains, evB, logger)
	if err != nil {
		t.Fatal(err)
	}
	watcher.OnTransfer(b.svc.OnTransfer)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = watcher.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	poll.Until(t, 30*time.Second, "watcher start", func() bool { return watcher.LastBlock(devchain.ChainID) > 0 })

	session := a.login(viewer).GetAccessToken()
	for _, v := range []string{"vid_pass", "vid_erc20"} {
		if _, err := a.client.IssuePlaybackToken(ctx, withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: v}, session)); err != nil {
			t.Fatalf("holder refused a playback token for %s: %v", v, err)
		}
	}
	if n := liveGrants(t, b.svc); n != 2 {
		t.Fatalf("grants seen by B = %d, want A's 2", n)
	}

	// The pass moves: B's watcher sees it and revokes A's grant.
	if err := dc.Transfer721(ctx, viewer.key, buyer.addr, passID); err != nil {
		t.Fatal(err)
	}
	if oc := next("the pass transfer"); oc.GetVideoId() != "vid_pass" || oc.GetAddress() != viewer.addr.Hex() || oc.GetAllowed() || oc.GetBlockNumber() == 0 {
		t.Fatalf("ownership.changed = %v, want vid_pass revoked", oc)
	}
	poll.Until(t, 10*time.Second, "A's pass grant deleted", func() bool { return liveGrants(t, a.svc) == 1 })

	// The ERC-20 balance moves: no watcher follows it; B's re-verification
	// revokes A's grant.
	if err := dc.TransferToken(ctx, viewer.key, token, buyer.addr, big.NewInt(1)); err != nil {
		t.Fatal(err)
	}
	res, err := b.client.ReverifyGrants(ctx, connect.NewRequest(&authv1.ReverifyGrantsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Msg; r.GetCheckedCount() != 1 || r.GetRevokedCount() != 1 || r.GetFailedCount() != 0 {
		t.Fatalf("B's ReverifyGrants = %v, want A's ERC-20 grant checked and revoked", r)
	}
	if oc := next("the token transfer"); oc.GetVideoId() != "vid_erc20" || oc.GetAddress() != viewer.addr.Hex() || oc.GetAllowed() {
		t.Fatalf("ownership.changed = %v, want vid_erc20 revoked", oc)
	}
	if n := liveGrants(t, a.svc); n != 0 {
		t.Fatalf("grants left = %d, want 0", n)
	}
}
