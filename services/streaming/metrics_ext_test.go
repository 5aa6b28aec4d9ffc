package streaming_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/telemetry/telemetrytest"
	"github.com/streamgate/streamgate/services/streaming"
)

// TestMetricsCountServedBytesAndRefusals plays a manifest and a segment
// (one of them as a range), then is refused twice, and reads the
// instance's /metrics: the byte counters equal the bodies received.
func TestMetricsCountServedBytesAndRefusals(t *testing.T) {
	store := encoded(t)
	tel := telemetrytest.New(t, "streaming")
	key, err := authtoken.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ver, err := authtoken.NewVerifier(&keySource{keys: []authtoken.SigningKey{key}}, authtoken.VerifierConfig{Issuer: issuer}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fv := &fakeVideos{videos: map[string]*metadatav1.Video{}}
	fv.set(readyVideo("vid_1", true))
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	svc, err := streaming.New(streaming.Config{PublicBaseURL: srv.URL, MeterProvider: tel.MeterProvider}, store, fv, ver, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for p, h := range svc.HTTPHandlers() {
		mux.Handle(p, h)
	}
	tok, err := authtoken.Sign(key, playbackClaims(time.Now(), "vid_1", 10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	var manifestBytes, segmentBytes int
	res, body := get(t, srv.URL+"/play/vid_1/master.m3u8?token="+tok)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("manifest: %d", res.StatusCode)
	}
	manifestBytes += len(body)
	seg := srv.URL + "/play/vid_1/180p/seg-00001.m4s?token=" + tok
	res, body = get(t, seg)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("segment: %d", res.StatusCode)
	}
	segmentBytes += len(body)
	res, body = get(t, seg, "Range", "bytes=0-99")
	if res.StatusCode != http.StatusPartialContent || len(body) != 100 {
		t.Fatalf("range: %d, %d bytes", res.StatusCode, len(body))
	}
	segmentBytes += len(body)
	if res, _ := get(t, seg[:len(seg)-len(tok)-7]); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", res.StatusCode)
	}
	if res, _ := get(t, seg+"x"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("bad token: %d", res.StatusCode)
	}

	fams := telemetrytest.Families(t, tel.MetricsHandler())
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"streamgate_streaming_served_bytes_total", []string{"kind", "manifest"}, float64(manifestBytes)},
		{"streamgate_streaming_served_bytes_total", []string{"kind", "segment"}, float64(segmentBytes)},
		{"streamgate_streaming_refusals_total", []string{"reason", "no_token"}, 1},
		{"streamgate_streaming_refusals_total", []string{"reason", "denied"}, 1},
	} {
		if got, ok := telemetrytest.Value(fams, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
}

// TestMetricsCountSegmentCache: on S3, a segment read twice through the
// cache is a miss then a hit; one over the size limit is a bypass.
func TestMetricsCountSegmentCache(t *testing.T) {
	store := onS3(t, encoded(t))
	tel := telemetrytest.New(t, "streaming")
	key, err := authtoken.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ver, err := authtoken.NewVerifier(&keySource{keys: []authtoken.SigningKey{key}}, authtoken.VerifierConfig{Issuer: issuer}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fv := &fakeVideos{videos: map[string]*metadatav1.Video{}}
	fv.set(readyVideo("vid_1", false))
	initSeg := readBlob(t, store, "videos/vid_1/180p/init.m4s")
	seg := readBlob(t, store, "videos/vid_1/180p/seg-00002.m4s")
	if len(initSeg) >= len(seg) {
		t.Fatalf("init %d bytes, segment %d: the test wants the init segment smaller", len(initSeg), len(seg))
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	svc, err := streaming.New(streaming.Config{
		PublicBaseURL: srv.URL, MeterProvider: tel.MeterProvider,
		SegmentCacheDir: t.TempDir(), SegmentCacheMaxObjectBytes: int64(len(initSeg)),
	}, store, fv, ver, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for p, h := range svc.HTTPHandlers() {
		mux.Handle(p, h)
	}
	for _, rel := range []string{"180p/init.m4s", "180p/init.m4s", "180p/seg-00002.m4s"} {
		if res, _ := get(t, srv.URL+"/play/vid_1/"+rel); res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", rel, res.StatusCode)
		}
	}
	fams := telemetrytest.Families(t, tel.MetricsHandler())
	for _, result := range []string{"miss", "hit", "bypass"} {
		if got, ok := telemetrytest.Value(fams, "streamgate_streaming_segment_cache_total", "result", result); !ok || got != 1 {
			t.Errorf("segment_cache{result=%s} = %v (present %v), want 1", result, got, ok)
		}
	}
}
