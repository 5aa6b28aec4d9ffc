package auth

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
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

// TestGrantRevokedAfterRestart: a viewer gets a playback token from an auth
// instance, which then stops; a new instance starts on the same database,
// with a new evaluator that has checked nothing, as a restarted process
// has. The pass moves: the new instance's watcher follows the pass because
// the stored grant names it, sees the Transfer and revokes the grant. No
// re-verification runs, so only the watcher can do it. On SQLite (the same
// data directory) and on PostgreSQL.
func TestGrantRevokedAfterRestart(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	viewers := map[string]wallet{"sqlite": newWallet(t), "postgres": newWallet(t)}
	dc, chains := startDevChain(t, viewers["sqlite"], viewers["postgres"])
	_, bus := eventstest.Bus(t)
	got := eventstest.Collect[*eventsv1.OwnershipChanged](t, bus, "test-restart")
	videos := &fakeVideos{videos: map[string]*metadatav1.Video{
		"vid_pass": readyVideo("vid_pass", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
			ChainId: devchain.ChainID, ContractAddress: dc.PassAddress().Hex(), Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
		}}}),
	}}
	pgURL := pgtest.Start(t).NewDatabase(t)
	dir := t.TempDir()

	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			viewer := viewers[name]
			cfg := Config{Domain: testDomain, URI: testURI, AllowedChainIDs: []uint64{devchain.ChainID}}
			if name == "sqlite" {
				cfg.DataDir = dir
			} else {
				cfg.DatabaseURL = pgURL
			}
			// start runs an instance as the node does: its own evaluator,
			// a watcher on it, the evaluator as the policy follower.
			start := func(withWatcher bool) (*env, *access.Evaluator, func()) {
				ev, err := access.NewEvaluator(access.Config{}, chains, nil, logger)
				if err != nil {
					t.Fatal(err)
				}
				svc, err := New(cfg, chains, evaluatorChecker{ev}, videos, logger, WithPublisher(bus), WithPolicyFollower(ev))
				if err != nil {
					t.Fatal(err)
				}
				mux := http.NewServeMux()
				mux.Handle(svc.Handler(connect.WithInterceptors(identity.NewInterceptor(false))))
				srv := httptest.NewServer(mux)
				runCtx, cancel := context.WithCancel(ctx)
				runs := []func(context.Context) error{svc.Run}
				if withWatcher {
					w, err := access.NewWatcher(access.WatcherConfig{ChainIDs: []uint64{devchain.ChainID}, PollInterval: 100 * time.Millisecond}, chains, ev, logger)
					if err != nil {
						t.Fatal(err)
					}
					w.OnTransfer(svc.OnTransfer)
					runs = append(runs, w.Run)
					defer poll.Until(t, 30*time.Second, "watcher start", func() bool { return w.LastBlock(devchain.ChainID) > 0 })
				}
				done := make(chan struct{}, len(runs))
				for _, run := range runs {
					go func() { _ = run(runCtx); done <- struct{}{} }()
				}
				var stopped bool
				stop := func() {
					if stopped {
						return
					}
					stopped = true
					cancel()
					for range runs {
						<-done
					}
					srv.Close()
					_ = svc.Close()
				}
				t.Cleanup(stop)
				return &env{t: t, svc: svc, client: authv1connect.NewAuthServiceClient(srv.Client(), srv.URL), url: srv.URL}, ev, stop
			}

			passID, err := dc.Mint721(ctx, viewer.addr)
			if err != nil {
				t.Fatal(err)
			}
			first, _, stopFirst := start(false)
			session := first.login(viewer).GetAccessToken()
			if _, err := first.client.IssuePlaybackToken(ctx, withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_pass"}, session)); err != nil {
				t.Fatalf("holder refused a playback token: %v", err)
			}
			stopFirst()

			second, ev, _ := start(true)
			if n := liveGrants(t, second.svc); n != 1 {
				t.Fatalf("grants after the restart = %d, want 1", n)
			}
			poll.Until(t, 10*time.Second, "the stored grant's contract to be followed", func() bool {
				return slices.Contains(ev.SeenContracts(), access.ContractRef{ChainID: devchain.ChainID, Contract: dc.PassAddress()})
			})
			if err := dc.Transfer721(ctx, viewer.key, newWallet(t).addr, passID); err != nil {
				t.Fatal(err)
			}
			deadline := time.After(60 * time.Second)
			for {
				var oc *eventsv1.OwnershipChanged
				select {
				case oc = <-got:
				case <-deadline:
					t.Fatal("no ownership.changed within 60s of the transfer: the restarted instance missed it")
				}
				if oc.GetAddress() != viewer.addr.Hex() {
					continue
				}
				if oc.GetVideoId() != "vid_pass" || oc.GetAllowed() {
					t.Fatalf("ownership.changed = %v", oc)
				}
				break
			}
			poll.Until(t, 10*time.Second, "grant deleted after revocation", func() bool { return liveGrants(t, second.svc) == 0 })
		})
	}
}
