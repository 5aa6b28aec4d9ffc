package edge

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamgate/streamgate/internal/authtoken"
)

// countingVerifier verifies any token for vid_a, for one session, and
// counts the checks.
type countingVerifier struct {
	checks int
	exp    time.Time
}

func (*countingVerifier) VerifySession(context.Context, string) (*authtoken.SessionClaims, error) {
	return nil, authtoken.ErrInvalidToken
}

func (v *countingVerifier) VerifyPlayback(_ context.Context, _, videoID string) (*authtoken.PlaybackClaims, error) {
	v.checks++
	if videoID != "vid_a" {
		return nil, authtoken.ErrInvalidToken
	}
	return &authtoken.PlaybackClaims{SessionID: "ses_1", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(v.exp)}}, nil
}

// A player's segment requests pay one signature check for their bucket,
// until the token expires; a token used on another video is checked again
// (and falls back to the address).
func TestPlaybackKeyRemembersVerifiedTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := &countingVerifier{exp: now.Add(5 * time.Minute)}
	e := &Edge{verifier: v, cfg: Config{Now: func() time.Time { return now }}}
	key := func(path string) string {
		k, _ := e.playbackKey(httptest.NewRequest("GET", path+"?token=tok", nil), "192.0.2.1")
		return k
	}
	for i := range 10 {
		if got := key("/play/vid_a/hls/seg_" + string(rune('0'+i)) + ".m4s"); got != "session:ses_1/vid_a" {
			t.Fatalf("key = %q", got)
		}
	}
	if v.checks != 1 {
		t.Errorf("%d signature checks for ten segments of one token, want 1", v.checks)
	}
	if got := key("/play/vid_b/hls/seg_0.m4s"); got != "ip:192.0.2.1" || v.checks != 2 {
		t.Errorf("the token on another video: key %q after %d checks; want the address after a new check", got, v.checks)
	}
	now = now.Add(6 * time.Minute)
	key("/play/vid_a/hls/seg_0.m4s")
	if v.checks != 3 {
		t.Errorf("an expired token was not checked again (%d checks)", v.checks)
	}
}
