package auth

import (
	"context"
	"errors"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

type fakePublisher struct {
	mu   sync.Mutex
	msgs []*eventsv1.OwnershipChanged
	err  error
}

func (f *fakePublisher) Publish(_ context.Context, m proto.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.msgs = append(f.msgs, m.(*eventsv1.OwnershipChanged))
	return nil
}

func TestOnTransfer(t *testing.T) {
	pass := common.HexToAddress(nftPolicy.GetRules()[0].GetContractAddress())
	otherContract := common.HexToAddress("0x3333333333333333333333333333333333333333")
	for _, tt := range []struct {
		name          string
		contract      common.Address
		chainID       uint64
		fromIsHolder  bool
		stillAllowed  bool
		chainErr      error
		wantPublished bool
		wantGrants    int
	}{
		{name: "sold the pass", contract: pass, chainID: 1337, fromIsHolder: true, wantPublished: true},
		{name: "holds another pass", contract: pass, chainID: 1337, fromIsHolder: true, stillAllowed: true, wantGrants: 1},
		{name: "chain down: logged, grant kept", contract: pass, chainID: 1337, fromIsHolder: true, chainErr: errChainDown, wantGrants: 1},
		{name: "another contract", contract: otherContract, chainID: 1337, fromIsHolder: true, wantGrants: 1},
		{name: "same contract on another chain", contract: pass, chainID: 1, fromIsHolder: true, wantGrants: 1},
		{name: "someone else's transfer", contract: pass, chainID: 1337, wantGrants: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			e := newEnv(t)
			e.svc.publisher = pub
			holder, stranger := newWallet(t), newWallet(t)
			e.access.allowed[holder.addr] = true
			e.videos.videos["vid_gated"] = readyVideo("vid_gated", nftPolicy)
			e.videos.videos["vid_public"] = readyVideo("vid_public", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC})
			tok := e.login(holder).GetAccessToken()
			for _, v := range []string{"vid_gated", "vid_public"} {
				if _, err := e.client.IssuePlaybackToken(t.Context(), withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: v}, tok)); err != nil {
					t.Fatal(err)
				}
			}
			if n := liveGrants(t, e.svc); n != 1 {
				t.Fatalf("grants = %d, want 1 (public videos are not recorded)", n)
			}

			e.access.mu.Lock()
			e.access.allowed[holder.addr] = tt.stillAllowed
			e.access.err = tt.chainErr
			calls := e.access.calls
			e.access.mu.Unlock()
			from := stranger.addr
			if tt.fromIsHolder {
				from = holder.addr
			}
			e.svc.OnTransfer(t.Context(), tt.chainID, tt.contract, from, stranger.addr, 42)

			if got := len(pub.msgs) == 1; got != tt.wantPublished || len(pub.msgs) > 1 {
				t.Fatalf("published %v, want published=%v", pub.msgs, tt.wantPublished)
			}
			if tt.wantPublished {
				m := pub.msgs[0]
				if m.GetEventId() != "ownership.changed:vid_gated:"+holder.addr.Hex()+":42" || m.GetVideoId() != "vid_gated" ||
					m.GetAddress() != holder.addr.Hex() || m.GetAllowed() || m.GetBlockNumber() != 42 || m.GetOccurTime() == nil {
					t.Fatalf("event = %v", m)
				}
			}
			if n := liveGrants(t, e.svc); n != tt.wantGrants {
				t.Fatalf("grants = %d, want %d", n, tt.wantGrants)
			}
			rechecked := e.access.calls - calls
			if wantCheck := tt.fromIsHolder && tt.contract == pass && tt.chainID == 1337; (rechecked == 1) != wantCheck {
				t.Fatalf("re-checks = %d, want re-check %v", rechecked, wantCheck)
			}
		})
	}
}

func TestOnTransferMintChecksNothing(t *testing.T) {
	e := newEnv(t)
	pub := &fakePublisher{}
	e.svc.publisher = pub
	e.svc.OnTransfer(t.Context(), 1337, common.Address{1}, common.Address{}, common.Address{2}, 7)
	if e.access.calls != 0 || len(pub.msgs) != 0 {
		t.Fatalf("a mint re-checked (%d) or published (%d)", e.access.calls, len(pub.msgs))
	}
}

// TestOnTransferPublishFailureKeepsGrant: the viewer is refused anyway
// (the chain says no), and the grant is kept, so that the next
// re-verification announces the revocation that could not be published.
func TestOnTransferPublishFailureKeepsGrant(t *testing.T) {
	e := newEnv(t)
	pub := &fakePublisher{err: errors.New("nats down")}
	e.svc.publisher = pub
	holder := newWallet(t)
	e.access.allowed[holder.addr] = true
	e.videos.videos["vid_gated"] = readyVideo("vid_gated", nftPolicy)
	tok := e.login(holder).GetAccessToken()
	if _, err := e.client.IssuePlaybackToken(t.Context(), withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_gated"}, tok)); err != nil {
		t.Fatal(err)
	}
	e.access.mu.Lock()
	e.access.allowed[holder.addr] = false
	e.access.mu.Unlock()
	e.svc.OnTransfer(t.Context(), 1337, common.HexToAddress(nftPolicy.GetRules()[0].GetContractAddress()), holder.addr, common.Address{9}, 5)
	_, err := e.client.IssuePlaybackToken(t.Context(), withBearer(&authv1.IssuePlaybackTokenRequest{VideoId: "vid_gated"}, tok))
	wantCode(t, err, connect.CodePermissionDenied)
	if n := liveGrants(t, e.svc); n != 1 {
		t.Fatalf("grants after a failed announcement = %d, want 1", n)
	}

	pub.mu.Lock()
	pub.err = nil
	pub.mu.Unlock()
	r, err := e.svc.ReverifyGrants(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if r != (ReverifyResult{Checked: 1, Revoked: 1}) || len(pub.msgs) != 1 || pub.msgs[0].GetAllowed() {
		t.Fatalf("re-verification: %+v, published %v; want the revocation announced", r, pub.msgs)
	}
	if n := liveGrants(t, e.svc); n != 0 {
		t.Fatalf("grants after the announcement = %d, want 0", n)
	}
}
