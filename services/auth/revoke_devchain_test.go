package auth

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/auth/access"
)

// evaluatorChecker adapts access.Evaluator to AccessChecker (the binary
// does the same in node/).
type evaluatorChecker struct{ ev *access.Evaluator }

func (a evaluatorChecker) Check(ctx context.Context, p *authv1.AccessPolicy, addr common.Address, bypass bool) (*authv1.CheckAccessResponse, error) {
	d, err := a.ev.Check(ctx, p, addr, bypass)
	if err != nil {
		return nil, err
	}
	return d.Proto(), nil
}

// TestTransferThenRefreshRefused: a viewer holding the pass gets a playback
// token; the pass moves to someone else; auth's watcher sees the Transfer,
// publishes ownership.changed, and the refresh is refused.
func TestTransferThenRefreshRefused(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)

	viewer, other := newWallet(t), newWallet(t)
	dc, chains := startDevChain(t, viewer)
	ev, err := access.NewEvaluator(access.Config{}, chains, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := access.NewWatcher(access.WatcherConfig{ChainIDs: []uint64{devchain.ChainID}, PollInterval: 100 * time.Millisecond}, chains, ev, logger)
	if err != nil {
		t.Fatal(err)
	}

	_, bus := eventstest.Bus(t)
	got := eventstest.Collect[*eventsv1.OwnershipChanged](t, bus, "test-ownership")

	policy := &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
		ChainId: devchain.ChainID, ContractAddress: dc.PassAddress().Hex(), Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
	}}}
	videos := &fakeVideos{videos: map[string]*metadatav1.Video{}}
	videos.videos["vid_gated"] = readyVideo("vid_gated", policy)
	svc, err := New(Config{Domain: testDomain, URI: testURI, DataDir: t.TempDir(), AllowedChainIDs: []uint64{devchain.ChainID}},
		chains, evaluatorChecker{ev}, videos, logger, WithPublisher(bus))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	watcher.OnTransfer(svc.OnTransfer)

	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan struct{}, 2)
	for _, run := range []func(context.Context) error{svc.Run, watcher.Run} {
		go func() { _ = run(runCtx); runDone <- struct{}{} }()
	}
	t.Cleanup(func() { stop(); <-runDone; <-runDone })
	// The watcher follows the chain from its first poll.
	poll.Until(t, 30*time.Second, "watcher start", func() bool { return watcher.LastBlock(devchain.ChainID) > 0 })

	mux := http.NewServeMux()
	mux.Handle(svc.Handler(connect.WithInterceptors(identity.NewInterceptor(false))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, svc: svc, client: authv1connect.NewAuthServiceClient(srv.Client(), srv.URL), url: srv.URL}

	tokenID, err := dc.Mint721(ctx, viewer.addr)
	if err != nil {
		t.Fatal(err)
	}
	session := e.login(viewer).GetAccessToken()
	issue := func() error {
		_, err := e.client.IssuePlaybackToken(ctx, withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_gated"}, session))
		return err
	}
	if err := issue(); err != nil {
		t.Fatalf("holder refused a playback token: %v", err)
	}
	if n := liveGrants(t, svc); n != 1 {
		t.Fatalf("grants recorded = %d, want 1", n)
	}

	if err := dc.Transfer721(ctx, viewer.key, other.addr, tokenID); err != nil {
		t.Fatal(err)
	}
	var oc *eventsv1.OwnershipChanged
	select {
	case oc = <-got:
	case <-time.After(60 * time.Second):
		t.Fatal("no ownership.changed within 60s of the transfer")
	}
	if oc.GetVideoId() != "vid_gated" || oc.GetAddress() != viewer.addr.Hex() || oc.GetAllowed() || oc.GetBlockNumber() == 0 {
		t.Fatalf("ownership.changed = %v", oc)
	}
	if want := "ownership.changed:vid_gated:" + viewer.addr.Hex() + ":"; len(oc.GetEventId()) <= len(want) || oc.GetEventId()[:len(want)] != want {
		t.Fatalf("event id = %q, want prefix %q", oc.GetEventId(), want)
	}
	// The grant is deleted once the revocation is announced.
	poll.Until(t, 10*time.Second, "grant deleted after revocation", func() bool { return liveGrants(t, svc) == 0 })
	wantCode(t, issue(), connect.CodePermissionDenied)
}
