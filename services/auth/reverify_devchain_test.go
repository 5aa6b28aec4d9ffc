package auth

import (
	"log/slog"
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
	"github.com/streamgate/streamgate/services/auth/access"
)

// TestReverifyGrantsRevokesTransferredPass: with no Transfer watcher
// running (as when it missed the log), ReverifyGrants re-checks the chain,
// bypassing the cached "allowed" decision, revokes the grant whose pass
// moved away and keeps the one whose holder still has it.
func TestReverifyGrantsRevokesTransferredPass(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	viewer, keeper, buyer := newWallet(t), newWallet(t), newWallet(t)
	dc, chains := startDevChain(t, viewer)
	ev, err := access.NewEvaluator(access.Config{}, chains, nil, logger)
	if err != nil {
		t.Fatal(err)
	}

	_, bus := eventstest.Bus(t)
	got := eventstest.Collect[*eventsv1.OwnershipChanged](t, bus, "test-reverify")

	policy := &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
		ChainId: devchain.ChainID, ContractAddress: dc.PassAddress().Hex(), Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
	}}}
	videos := &fakeVideos{videos: map[string]*metadatav1.Video{"vid_gated": readyVideo("vid_gated", policy)}}
	svc, err := New(Config{Domain: testDomain, URI: testURI, DataDir: t.TempDir(), AllowedChainIDs: []uint64{devchain.ChainID}},
		chains, evaluatorChecker{ev}, videos, logger, WithPublisher(bus))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	mux := http.NewServeMux()
	mux.Handle(svc.Handler(connect.WithInterceptors(identity.NewInterceptor(false))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, svc: svc, client: authv1connect.NewAuthServiceClient(srv.Client(), srv.URL), url: srv.URL}

	viewerToken, err := dc.Mint721(ctx, viewer.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Mint721(ctx, keeper.addr); err != nil {
		t.Fatal(err)
	}
	for _, w := range []wallet{viewer, keeper} {
		if _, err := e.client.IssuePlaybackToken(ctx, withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_gated"}, e.login(w).GetAccessToken())); err != nil {
			t.Fatalf("holder %s refused a playback token: %v", w.addr.Hex(), err)
		}
	}
	reverify := func() *authv1.ReverifyGrantsResponse {
		t.Helper()
		res, err := e.client.ReverifyGrants(ctx, connect.NewRequest(&authv1.ReverifyGrantsRequest{}))
		if err != nil {
			t.Fatalf("ReverifyGrants: %v", err)
		}
		return res.Msg
	}
	if r := reverify(); r.GetCheckedCount() != 2 || r.GetRevokedCount() != 0 || r.GetFailedCount() != 0 {
		t.Fatalf("before the transfer: %v, want 2 checked, none revoked", r)
	}

	if err := dc.Transfer721(ctx, viewer.key, buyer.addr, viewerToken); err != nil {
		t.Fatal(err)
	}
	// The evaluator's cache still says "allowed"; a cached re-check would
	// keep the grant.
	if r := reverify(); r.GetCheckedCount() != 2 || r.GetRevokedCount() != 1 {
		t.Fatalf("after the transfer: %v, want 2 checked, 1 revoked", r)
	}
	var oc *eventsv1.OwnershipChanged
	select {
	case oc = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no ownership.changed after the revocation")
	}
	if oc.GetVideoId() != "vid_gated" || oc.GetAddress() != viewer.addr.Hex() || oc.GetAllowed() || oc.GetBlockNumber() == 0 {
		t.Fatalf("ownership.changed = %v", oc)
	}
	if n := liveGrants(t, svc); n != 1 {
		t.Fatalf("grants left = %d, want the keeper's", n)
	}
	if r := reverify(); r.GetCheckedCount() != 1 || r.GetRevokedCount() != 0 {
		t.Errorf("third pass: %v, want the keeper's grant checked and kept", r)
	}
	if _, err := e.client.ReverifyGrants(ctx, connect.NewRequest(&authv1.ReverifyGrantsRequest{Limit: -1})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("negative limit: %v, want InvalidArgument", err)
	}
}
