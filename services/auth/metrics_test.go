package auth

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/telemetry/telemetrytest"
)

// TestMetricsCountDecisionsAndSignIns reads the instance's /metrics after
// a sign-in, a refused sign-in and four policy evaluations.
func TestMetricsCountDecisionsAndSignIns(t *testing.T) {
	tel := telemetrytest.New(t, "auth")
	clk := &clock{now: time.Now()}
	access := &fakeAccess{allowed: map[common.Address]bool{}}
	videos := map[string]*metadatav1.Video{
		"vid_gated":  readyVideo("vid_gated", nftPolicy),
		"vid_public": readyVideo("vid_public", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}),
	}
	svc, err := New(Config{Domain: testDomain, URI: testURI, DataDir: t.TempDir(), Now: clk.Now},
		&fakeWallets{}, access, &fakeVideos{videos: videos},
		slog.New(slog.NewTextHandler(io.Discard, nil)), WithMeterProvider(tel.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })

	holder, stranger := newWallet(t), newWallet(t)
	access.allowed[holder.addr] = true
	var session string
	for _, w := range []wallet{holder, stranger} {
		ch, err := svc.CreateChallenge(t.Context(), w.addr.Hex(), 1337)
		if err != nil {
			t.Fatal(err)
		}
		sig := w.sign(t, ch.Message)
		if w == stranger {
			sig = holder.sign(t, ch.Message) // not the stranger's signature
		}
		tok, err := svc.SignIn(t.Context(), ch.Message, sig)
		if (err == nil) != (w == holder) {
			t.Fatalf("SignIn(%s): %v", w.addr, err)
		}
		if w == holder {
			session = tok.AccessToken
		}
	}
	for _, v := range []string{"vid_gated", "vid_public", "vid_public"} {
		if _, err := svc.IssuePlaybackToken(t.Context(), v, session); err != nil {
			t.Fatalf("IssuePlaybackToken(%s): %v", v, err)
		}
	}
	for _, w := range []wallet{holder, holder, stranger} {
		if _, err := svc.CheckAccess(t.Context(), "", nftPolicy, w.addr.Hex(), false); err != nil {
			t.Fatal(err)
		}
	}
	access.err = errChainDown
	if _, err := svc.CheckAccess(t.Context(), "", nftPolicy, holder.addr.Hex(), false); err == nil {
		t.Fatal("CheckAccess with the chain down: nil error")
	}

	fams := telemetrytest.Families(t, tel.MetricsHandler())
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"streamgate_auth_sign_ins_total", nil, 1},
		{"streamgate_auth_access_decisions_total", []string{"decision", "allowed"}, 3},
		{"streamgate_auth_playback_tokens_total", []string{"gated", "true"}, 1},
		{"streamgate_auth_playback_tokens_total", []string{"gated", "false"}, 2},
		{"streamgate_auth_access_decisions_total", []string{"decision", "denied"}, 1},
		{"streamgate_auth_access_decisions_total", []string{"decision", "error"}, 1},
	} {
		if got, ok := telemetrytest.Value(fams, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
}

type recordingFollower struct{ policies []*authv1.AccessPolicy }

func (f *recordingFollower) Follow(p *authv1.AccessPolicy) error {
	f.policies = append(f.policies, p)
	return nil
}

// TestGrantFollowsItsPolicy: a grant issued from a decision another
// instance cached is still watched here: issuing it hands its policy to the
// transfer watcher, so this instance revokes it on a Transfer.
func TestGrantFollowsItsPolicy(t *testing.T) {
	access := &fakeAccess{allowed: map[common.Address]bool{}}
	videos := map[string]*metadatav1.Video{
		"vid_gated":  readyVideo("vid_gated", nftPolicy),
		"vid_public": readyVideo("vid_public", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC}),
	}
	follower := &recordingFollower{}
	svc, err := New(Config{Domain: testDomain, URI: testURI, DataDir: t.TempDir()},
		&fakeWallets{}, access, &fakeVideos{videos: videos}, slog.New(slog.NewTextHandler(io.Discard, nil)), WithPolicyFollower(follower))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	holder := newWallet(t)
	access.allowed[holder.addr] = true
	ch, err := svc.CreateChallenge(t.Context(), holder.addr.Hex(), 1337)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := svc.SignIn(t.Context(), ch.Message, holder.sign(t, ch.Message))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"vid_public", "vid_gated"} {
		if _, err := svc.IssuePlaybackToken(t.Context(), v, tok.AccessToken); err != nil {
			t.Fatalf("IssuePlaybackToken(%s): %v", v, err)
		}
	}
	if len(follower.policies) != 1 || !proto.Equal(follower.policies[0], nftPolicy) {
		t.Errorf("followed %v, want the gated video's policy once", follower.policies)
	}
}
