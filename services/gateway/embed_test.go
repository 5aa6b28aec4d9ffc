package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/fstest"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/video"
	"github.com/streamgate/streamgate/services/gateway"
	"github.com/streamgate/streamgate/services/gateway/edge"
	"github.com/streamgate/streamgate/web"
)

// fakeVideos answers GetVideo from a map and counts the calls.
type fakeVideos struct {
	mu     sync.Mutex
	videos map[string][]string // id -> allowed origins
	err    error
	calls  int
}

func (f *fakeVideos) GetVideo(_ context.Context, id string) (*metadatav1.Video, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	o, ok := f.videos[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", video.ErrNotFound, id)
	}
	return &metadatav1.Video{Id: id, AllowedOrigins: o}, nil
}

// The embed page's frame-ancestors follow the video's allowed origins (any
// when the list is empty or the video unknown), are remembered for a few
// seconds, and a metadata outage answers 503 rather than a policy guessed.
func TestEmbedFrameAncestors(t *testing.T) {
	const (
		listed = "vid_01HQZX3N5V8J2K4M6P8R0T2W4A"
		open   = "vid_01HQZX3N5V8J2K4M6P8R0T2W4B"
	)
	videos := &fakeVideos{videos: map[string][]string{listed: {"https://site.example", "http://127.0.0.1:8081"}, open: nil}}
	e, err := edge.New(edge.Config{}, noMesh{}, catalog.Default(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.WebApp = web.NewHandler(fstest.MapFS{"index.html": {Data: []byte("app")}, "embed.html": {Data: []byte("player")}})
	svc, err := gateway.New(cfg, e, catalog.Default(), instances{}, slog.New(slog.DiscardHandler), gateway.WithEmbedPolicy(videos))
	if err != nil {
		t.Fatal(err)
	}
	h := svc.HTTPHandlers()["/"]
	get := func(path string) *http.Response {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Result()
	}
	for _, tt := range []struct{ path, csp string }{
		{"/embed/" + listed, "frame-ancestors 'self' https://site.example http://127.0.0.1:8081"},
		{"/embed/" + open, "frame-ancestors *"},
		{"/embed/vid_01HQZX3N5V8J2K4M6P8R0T2W4C", "frame-ancestors *"},
		{"/embed/not-an-id", "frame-ancestors *"},
		{"/watch/" + listed, "frame-ancestors 'none'"},
	} {
		res := get(tt.path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") != tt.csp {
			t.Errorf("GET %s: %d, CSP %q; want 200, %q", tt.path, res.StatusCode, res.Header.Get("Content-Security-Policy"), tt.csp)
		}
		if tt.path[:7] == "/embed/" && res.Header.Get("X-Frame-Options") != "" {
			t.Errorf("GET %s: X-Frame-Options %q on the embed page", tt.path, res.Header.Get("X-Frame-Options"))
		}
	}
	before := videos.calls
	get("/embed/" + listed)
	if videos.calls != before {
		t.Errorf("a second load within the TTL asked metadata again (%d calls, was %d)", videos.calls, before)
	}
	videos.mu.Lock()
	videos.err = errors.New("metadata down")
	videos.mu.Unlock()
	if res := get("/embed/vid_01HQZX3N5V8J2K4M6P8R0T2W4D"); res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("metadata down: %d, CSP %q; want 503 and no policy", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
}
