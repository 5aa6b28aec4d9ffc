package edge_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/services/gateway/edge"
)

func (f *fixture) playbackToken(t *testing.T, videoID, sessionID string) string {
	t.Helper()
	now := time.Now()
	tok, err := authtoken.Sign(f.key, &authtoken.PlaybackClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testIssuer, Subject: videoID,
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		},
		Type:      authtoken.TypePlayback,
		Address:   "0x00000000000000000000000000000000000000AA",
		SessionID: sessionID,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Media is limited per viewer, not per address: fifty viewers behind one
// NAT each use their whole allowance without a 429, while one viewer past
// it, or made-up tokens (which fall back to the address), are refused with
// Retry-After.
func TestPlaybackLimitPerViewer(t *testing.T) {
	const burst = 3
	f := newFixture(t, func(c *edge.Config) { c.PerPlayback = edge.RateLimit{Rate: 0.001, Burst: burst} })
	get := func(path, token string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.edge+path+"?token="+token, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res
	}
	const video = "vid_01HQZX3N5V8J2K4M6P8R0T2W4Y"
	for v := range 50 {
		tok := f.playbackToken(t, video, fmt.Sprintf("ses_viewer%02d", v))
		for i := range burst {
			if res := get("/play/"+video+"/hls/seg_"+fmt.Sprint(i)+".m4s", tok); res.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("viewer %d, request %d: 429 although within its own allowance", v, i)
			}
		}
	}
	hammer := f.playbackToken(t, video, "ses_viewer00")
	res := get("/play/"+video+"/hls/seg_9.m4s", hammer)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("a viewer past its allowance: %d, Retry-After %q; want 429 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	// A new token for the same session and video keeps the bucket.
	if res := get("/play/"+video+"/hls/seg_9.m4s", f.playbackToken(t, video, "ses_viewer00")); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a refreshed token got a fresh allowance: %d", res.StatusCode)
	}
	// Forged tokens all count against the address.
	refused := false
	for i := range burst + 1 {
		if get("/play/"+video+"/hls/seg_0.m4s", fmt.Sprintf("forged-%d", i)).StatusCode == http.StatusTooManyRequests {
			refused = true
		}
	}
	if !refused {
		t.Error("made-up tokens spread one client over fresh buckets")
	}
}
