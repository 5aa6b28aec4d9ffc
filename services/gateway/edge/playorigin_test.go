package edge_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamgate/streamgate/internal/authtoken"
)

// originToken is a playback token for videoID carrying allowed origins.
func (f *fixture) originToken(t *testing.T, videoID string, origins ...string) string {
	t.Helper()
	now := time.Now()
	tok, err := authtoken.Sign(f.key, &authtoken.PlaybackClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testIssuer, Subject: videoID,
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
		},
		Type:           authtoken.TypePlayback,
		Address:        "0x00000000000000000000000000000000000000AA",
		SessionID:      "ses_origin",
		AllowedOrigins: origins,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A token carrying allowed origins is refused at the edge, 403 with a body
// saying why and no Access-Control-Allow-Origin, for a request from another
// origin; a listed origin, or a request naming none, passes through (no
// streaming instance runs in the fixture, so passing is a 503 from the
// mesh). The edge reads the list from the verified token only: a token for
// video A does not lend A's list to video B, and a forged token's claims
// count for nothing.
func TestPlayOriginAllowList(t *testing.T) {
	f := newFixture(t)
	const (
		videoA  = "vid_01HQZX3N5V8J2K4M6P8R0T2W4A"
		videoB  = "vid_01HQZX3N5V8J2K4M6P8R0T2W4B"
		allowed = "https://site.example"
	)
	tokA := f.originToken(t, videoA, allowed, "http://127.0.0.1:8081")
	tokAny := f.originToken(t, videoB)
	do := func(method, path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, f.edge+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	seg := "/play/" + videoA + "/720p/seg-00001.m4s?token=" + tokA
	manifest := "/play/" + videoA + "/master.m3u8?token=" + tokA
	for _, tt := range []struct {
		name    string
		method  string
		path    string
		hdr     []string
		refused bool
	}{
		{"listed origin, manifest", "GET", manifest, []string{"Origin", allowed}, false},
		{"listed origin, segment", "GET", seg, []string{"Origin", allowed}, false},
		{"listed origin, other case and default port", "GET", seg, []string{"Origin", "HTTPS://SITE.example:443"}, false},
		{"listed loopback origin", "GET", seg, []string{"Origin", "http://127.0.0.1:8081"}, false},
		{"same loopback host, other port", "GET", seg, []string{"Origin", "http://127.0.0.1:8082"}, true},
		{"other origin, manifest", "GET", manifest, []string{"Origin", "https://evil.example"}, true},
		{"other origin, segment", "GET", seg, []string{"Origin", "https://evil.example"}, true},
		{"other origin, preflight", "OPTIONS", seg, []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}, true},
		{"null origin", "GET", seg, []string{"Origin", "null"}, true},
		{"Origin wins over a spoofed Referer", "GET", seg, []string{"Origin", "https://evil.example", "Referer", allowed + "/page"}, true},
		{"Referer's origin when no Origin", "GET", seg, []string{"Referer", allowed + "/blog/post"}, false},
		{"unlisted Referer when no Origin", "GET", seg, []string{"Referer", "https://evil.example/" + allowed}, true},
		{"neither header: the token is the capability", "GET", seg, nil, false},
		{"the gateway's own page (embed, watch)", "GET", seg, []string{"Referer", f.edge + "/embed/" + videoA}, false},
		{"token without a list: any origin", "GET", "/play/" + videoB + "/master.m3u8?token=" + tokAny, []string{"Origin", "https://evil.example"}, false},
		// A's token on B fails verification at the edge: no list applies
		// there, and streaming refuses the token itself.
		{"token for A used on B", "GET", "/play/" + videoB + "/master.m3u8?token=" + tokA, []string{"Origin", "https://evil.example"}, false},
		{"token in the Authorization header", "GET", "/play/" + videoA + "/master.m3u8", []string{"Authorization", "Bearer " + tokA, "Origin", "https://evil.example"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(tt.method, tt.path, tt.hdr...)
			if tt.refused {
				if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not play this video") {
					t.Errorf("status %d, body %q; want 403 saying the origin may not play", res.StatusCode, body)
				}
				if a := res.Header.Get("Access-Control-Allow-Origin"); a != "" {
					t.Errorf("a refused origin got Access-Control-Allow-Origin %q", a)
				}
				return
			}
			if res.StatusCode == http.StatusForbidden {
				t.Errorf("refused (%q); want passed through", body)
			}
		})
	}
}
