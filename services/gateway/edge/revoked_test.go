package edge_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/gateway/edge"
)

// revokeFixture is an edge in front of a metadata backend, with a settable
// clock for the denylist (tokens are checked against the real time).
type revokeFixture struct {
	edge   *edge.Edge
	clock  *clock
	key    authtoken.SigningKey
	videos metadatav1connect.MetadataServiceClient
}

func newRevokeFixture(t *testing.T, key authtoken.SigningKey) *revokeFixture {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(metadatav1connect.NewMetadataServiceHandler(videos{}))
	backend := httptest.NewServer(echoIdentity(mux))
	t.Cleanup(backend.Close)
	bu, err := url.Parse(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	toBackend := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.URL.Host = bu.Host
		return http.DefaultTransport.RoundTrip(r)
	})

	logger := slog.New(slog.DiscardHandler)
	verifier, err := authtoken.NewVerifier(&keySource{keys: []authtoken.SigningKey{key}}, authtoken.VerifierConfig{Issuer: testIssuer}, logger)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Now()}
	e, err := edge.New(edge.Config{PerIP: edge.RateLimit{Rate: -1}, PerIdentity: edge.RateLimit{Rate: -1}, Now: c.Now},
		toBackend, catalog.Default(), verifier, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &revokeFixture{edge: e, clock: c, key: key, videos: metadatav1connect.NewMetadataServiceClient(srv.Client(), srv.URL)}
}

func newKey(t *testing.T) authtoken.SigningKey {
	t.Helper()
	key, err := authtoken.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func (f *revokeFixture) token(t *testing.T, addr, sid string) string {
	t.Helper()
	now := time.Now()
	tok, err := authtoken.Sign(f.key, &authtoken.SessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testIssuer, Subject: addr,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		},
		Type:      authtoken.TypeSession,
		SessionID: sid,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call makes a session RPC with tok and returns its error.
func (f *revokeFixture) call(t *testing.T, tok string) error {
	_, err := f.videos.UpdateVideo(t.Context(), withHeaders(&metadatav1.UpdateVideoRequest{}, bearer(tok)...))
	return err
}

func wantRevoked(t *testing.T, err error) {
	t.Helper()
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "session revoked") {
		t.Fatalf("error = %v, want Unauthenticated: session revoked", err)
	}
}

func TestRevokeSession(t *testing.T) {
	f := newRevokeFixture(t, newKey(t))
	revoked := f.token(t, alice, "ses_revoked")
	other := f.token(t, bob, "ses_other")
	if err := f.call(t, revoked); err != nil {
		t.Fatalf("before revocation: %v", err)
	}

	f.edge.RevokeSession("ses_revoked", f.clock.Now().Add(time.Minute))
	wantRevoked(t, f.call(t, revoked))
	// Also on a public RPC: a credential that fails is refused, not ignored.
	_, err := f.videos.GetVideo(t.Context(), withHeaders(&metadatav1.GetVideoRequest{VideoId: "vid_1"}, bearer(revoked)...))
	wantRevoked(t, err)
	if err := f.call(t, other); err != nil {
		t.Errorf("another session: %v, want accepted", err)
	}

	// An earlier bound does not shorten the entry; a bound already past
	// adds nothing.
	f.edge.RevokeSession("ses_revoked", f.clock.Now().Add(time.Second))
	f.edge.RevokeSession("ses_other", f.clock.Now().Add(-time.Second))
	f.clock.Add(30 * time.Second)
	wantRevoked(t, f.call(t, revoked))
	if err := f.call(t, other); err != nil {
		t.Errorf("session revoked with a past bound: %v, want accepted", err)
	}

	// Past the bound the entry goes (in real life the token has expired
	// by then; here it still verifies, which shows the entry is gone).
	f.clock.Add(31 * time.Second)
	if err := f.call(t, revoked); err != nil {
		t.Errorf("after the bound: %v, want accepted", err)
	}
}

func TestFollowRevocations(t *testing.T) {
	_, bus := eventstest.Bus(t)
	revokedEvent := func(sid string, until time.Time) *eventsv1.SessionRevoked {
		return &eventsv1.SessionRevoked{
			EventId: "session.revoked:" + sid, OccurTime: timestamppb.Now(), SessionId: sid, Address: alice,
			Reason: eventsv1.SessionRevokedReason_SESSION_REVOKED_REASON_SIGN_OUT, ExpireTime: timestamppb.New(until),
		}
	}

	// Two edges, as two gateway instances: each must see every event.
	key := newKey(t)
	f1, f2 := newRevokeFixture(t, key), newRevokeFixture(t, key)
	early := f1.token(t, alice, "ses_early")
	late := f1.token(t, alice, "ses_late")
	other := f1.token(t, bob, "ses_other")

	// Published before the edges follow: an instance that starts after a
	// sign-out still refuses the session.
	if err := bus.Publish(t.Context(), revokedEvent("ses_early", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*revokeFixture{f1, f2} {
		done := make(chan error, 1)
		go func() { done <- f.edge.FollowRevocations(t.Context(), bus) }()
		t.Cleanup(func() {
			if err := <-done; err != nil {
				t.Errorf("FollowRevocations: %v", err)
			}
		})
	}
	if err := bus.Publish(t.Context(), revokedEvent("ses_late", time.Now().Add(time.Hour))); err != nil {
		t.Fatal(err)
	}

	for i, f := range []*revokeFixture{f1, f2} {
		for _, tok := range []string{early, late} {
			poll.Until(t, 10*time.Second, "edge refuses the revoked session", func() bool {
				return connect.CodeOf(f.call(t, tok)) == connect.CodeUnauthenticated
			})
			wantRevoked(t, f.call(t, tok))
		}
		if err := f.call(t, other); err != nil {
			t.Errorf("edge %d, another session: %v, want accepted", i, err)
		}
	}
}
