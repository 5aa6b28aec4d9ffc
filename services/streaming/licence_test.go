package streaming_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/telemetry/telemetrytest"
	"github.com/streamgate/streamgate/services/streaming"
)

// fakeKeys stands in for auth's ReleaseContentKeys: running auth here would
// need a chain to evaluate policies, and auth's own tests cover its
// decisions; these tests cover what the key server makes of each answer.
type fakeKeys struct {
	mu      sync.Mutex
	calls   []*authv1.ReleaseContentKeysRequest
	release func(videoID, address string) (*authv1.ReleaseContentKeysResponse, error)
}

func (f *fakeKeys) ReleaseContentKeys(_ context.Context, req *connect.Request[authv1.ReleaseContentKeysRequest]) (*connect.Response[authv1.ReleaseContentKeysResponse], error) {
	f.mu.Lock()
	f.calls = append(f.calls, req.Msg)
	release := f.release
	f.mu.Unlock()
	if release == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("no release set"))
	}
	res, err := release(req.Msg.GetVideoId(), req.Msg.GetAddress())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

func (f *fakeKeys) set(fn func(videoID, address string) (*authv1.ReleaseContentKeysResponse, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.release, f.calls = fn, nil
}

func (f *fakeKeys) called() []*authv1.ReleaseContentKeysRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*authv1.ReleaseContentKeysRequest(nil), f.calls...)
}

var (
	fullKey    = &authv1.ContentKey{Scope: authv1.ContentKeyScope_CONTENT_KEY_SCOPE_FULL, KeyId: bytes.Repeat([]byte{0xf1}, 16), Key: bytes.Repeat([]byte{0x11}, 16)}
	previewKey = &authv1.ContentKey{Scope: authv1.ContentKeyScope_CONTENT_KEY_SCOPE_PREVIEW, KeyId: bytes.Repeat([]byte{0xe2}, 16), Key: bytes.Repeat([]byte{0x22}, 16)}
)

func released(grant authv1.PlaybackGrant, keys ...*authv1.ContentKey) func(string, string) (*authv1.ReleaseContentKeysResponse, error) {
	return func(string, string) (*authv1.ReleaseContentKeysResponse, error) {
		return &authv1.ReleaseContentKeysResponse{Keys: keys, Grant: grant}, nil
	}
}

func refused(code connect.Code) func(string, string) (*authv1.ReleaseContentKeysResponse, error) {
	return func(string, string) (*authv1.ReleaseContentKeysResponse, error) {
		return nil, connect.NewError(code, errors.New("refused by the fake"))
	}
}

func kidOf(k *authv1.ContentKey) string { return base64.RawURLEncoding.EncodeToString(k.GetKeyId()) }

func licenceBody(kids ...string) string {
	b, _ := json.Marshal(map[string]any{"kids": kids, "type": "temporary"})
	return string(b)
}

// post sends a licence request and returns the answer and its body.
func post(t *testing.T, u, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// licenceKeys decodes a ClearKey answer into key (base64url) by kid.
func licenceKeys(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var res struct {
		Keys []struct{ Kty, KID, K string }
		Type string
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("licence answer %s: %v", b, err)
	}
	out := map[string]string{}
	for _, k := range res.Keys {
		if k.Kty != "oct" {
			t.Errorf("kty = %q, want oct", k.Kty)
		}
		out[k.KID] = k.K
	}
	return out
}

func TestLicence(t *testing.T) {
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, store, nil, readyVideo("vid_1", true), readyVideo("vid_p", false))
	lic := e.srv.URL + "/play/vid_1/licence"
	tok := e.token(t, "vid_1")
	both := licenceBody(kidOf(fullKey), kidOf(previewKey))
	b64 := base64.RawURLEncoding.EncodeToString

	t.Run("holder gets the requested keys", func(t *testing.T) {
		e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey, previewKey))
		res, b := post(t, lic+"?token="+tok, both)
		if res.StatusCode != 200 {
			t.Fatalf("status %d: %s", res.StatusCode, b)
		}
		got := licenceKeys(t, b)
		want := map[string]string{kidOf(fullKey): b64(fullKey.GetKey()), kidOf(previewKey): b64(previewKey.GetKey())}
		if len(got) != 2 || got[kidOf(fullKey)] != want[kidOf(fullKey)] || got[kidOf(previewKey)] != want[kidOf(previewKey)] {
			t.Errorf("keys = %v, want %v", got, want)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if acao := res.Header.Get("Access-Control-Allow-Origin"); acao != "*" {
			t.Errorf("Access-Control-Allow-Origin = %q, want *", acao)
		}
		calls := e.keys.called()
		if len(calls) != 1 || calls[0].GetVideoId() != "vid_1" || calls[0].GetAddress() != testAddr {
			t.Errorf("auth asked %v, want vid_1 for %s", calls, testAddr)
		}
	})
	t.Run("only requested kids", func(t *testing.T) {
		e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey, previewKey))
		res, b := post(t, lic, licenceBody(kidOf(fullKey)+"=="), "Authorization", "Bearer "+tok)
		if got := licenceKeys(t, b); res.StatusCode != 200 || len(got) != 1 || got[kidOf(fullKey)] == "" {
			t.Errorf("status %d, keys %v: want the full key alone", res.StatusCode, got)
		}
	})
	t.Run("preview grant gets the preview key alone", func(t *testing.T) {
		e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW, previewKey))
		res, b := post(t, lic+"?token="+tok, both)
		if got := licenceKeys(t, b); res.StatusCode != 200 || len(got) != 1 || got[kidOf(previewKey)] == "" {
			t.Errorf("status %d, keys %v: want the preview key alone", res.StatusCode, got)
		}
		res, b = post(t, lic+"?token="+tok, licenceBody(kidOf(fullKey)))
		if res.StatusCode != 403 || !strings.Contains(string(b), "pass is needed") || strings.Contains(string(b), b64(fullKey.GetKey())) {
			t.Errorf("full key for a preview grant: %d %s, want 403 saying a pass is needed", res.StatusCode, b)
		}
	})
	t.Run("not a holder", func(t *testing.T) {
		e.keys.set(refused(connect.CodePermissionDenied))
		res, b := post(t, lic+"?token="+tok, both)
		if res.StatusCode != 403 || !strings.Contains(string(b), "pass is needed") {
			t.Errorf("got %d %s, want 403 saying a pass is needed", res.StatusCode, b)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("refusal Cache-Control = %q, want no-store", cc)
		}
	})
	t.Run("auth unavailable fails closed", func(t *testing.T) {
		for _, code := range []connect.Code{connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeInternal} {
			e.keys.set(refused(code))
			res, b := post(t, lic+"?token="+tok, both)
			if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || strings.Contains(string(b), `"k"`) {
				t.Errorf("%v: got %d (Retry-After %q) %s, want 503 with Retry-After and no key", code, res.StatusCode, res.Header.Get("Retry-After"), b)
			}
		}
	})
	t.Run("clear video", func(t *testing.T) {
		e.keys.set(refused(connect.CodeNotFound))
		if res, b := post(t, lic+"?token="+tok, both); res.StatusCode != 404 {
			t.Errorf("got %d %s, want 404", res.StatusCode, b)
		}
	})
	t.Run("unknown kid", func(t *testing.T) {
		e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey, previewKey))
		if res, b := post(t, lic+"?token="+tok, licenceBody(b64(bytes.Repeat([]byte{7}, 16)))); res.StatusCode != 404 {
			t.Errorf("got %d %s, want 404", res.StatusCode, b)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey, previewKey))
		for name, body := range map[string]string{
			"not json":  "kids please",
			"no kids":   `{"kids":[],"type":"temporary"}`,
			"short kid": licenceBody(b64([]byte("short"))),
			"bad b64":   licenceBody("!!!!!!!!!!!!!!!!!!!!!!"),
			"oversized": licenceBody(strings.Repeat(kidOf(fullKey), 300)),
			"too many":  `{"kids":[` + strings.Repeat(`"`+kidOf(fullKey)+`",`, 40) + `"x"]}`,
		} {
			res, b := post(t, lic+"?token="+tok, body)
			if res.StatusCode != 400 || !strings.Contains(string(b), "bad licence request") {
				t.Errorf("%s: got %d %s, want 400", name, res.StatusCode, b)
			}
		}
		if n := len(e.keys.called()); n != 0 {
			t.Errorf("auth asked %d times for bad requests", n)
		}
	})
	t.Run("token", func(t *testing.T) {
		e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey, previewKey))
		if res, _ := post(t, lic, both); res.StatusCode != 401 || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("no token: %d %q, want 401 no-store", res.StatusCode, res.Header.Get("Cache-Control"))
		}
		if res, _ := post(t, lic+"?token="+e.token(t, "vid_other"), both); res.StatusCode != 403 {
			t.Errorf("another video's token: %d, want 403", res.StatusCode)
		}
		if n := len(e.keys.called()); n != 0 {
			t.Errorf("auth asked %d times without a valid token", n)
		}
	})
	t.Run("methods", func(t *testing.T) {
		if res, _ := get(t, lic+"?token="+tok); res.StatusCode != 405 || res.Header.Get("Allow") != "POST, OPTIONS" {
			t.Errorf("GET licence: %d Allow %q", res.StatusCode, res.Header.Get("Allow"))
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, lic, nil)
		req.Header.Set("Origin", "https://creator.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if res.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") ||
			h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight: %d %v", res.StatusCode, h)
		}
	})
	t.Run("public video", func(t *testing.T) {
		pub := e.srv.URL + "/play/vid_p/licence"
		e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_PUBLIC, fullKey, previewKey))
		res, b := post(t, pub, both)
		if got := licenceKeys(t, b); res.StatusCode != 200 || len(got) != 2 {
			t.Errorf("public: %d %v, want both keys", res.StatusCode, got)
		}
		if calls := e.keys.called(); len(calls) != 1 || calls[0].GetAddress() != "0x0000000000000000000000000000000000000000" {
			t.Errorf("auth asked %v, want the zero address", calls)
		}
		// Auth sees a gated policy (changed since streaming looked):
		// no wallet, no key.
		e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW, previewKey))
		if res, b := post(t, pub, both); res.StatusCode != 403 {
			t.Errorf("public video, auth says gated: %d %s, want 403", res.StatusCode, b)
		}
		e.keys.set(refused(connect.CodeNotFound))
		if res, _ := post(t, pub, both); res.StatusCode != 404 {
			t.Errorf("public clear video: %d, want 404", res.StatusCode)
		}
	})
}

func TestLicenceOriginRefused(t *testing.T) {
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := readyVideo("vid_1", true)
	e := newEnv(t, store, nil, v)
	e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey))
	c := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute)
	c.AllowedOrigins = []string{"https://creator.example"}
	tok := e.sign(t, e.key, c)
	res, b := post(t, e.srv.URL+"/play/vid_1/licence?token="+tok, licenceBody(kidOf(fullKey)), "Origin", "https://other.example")
	if res.StatusCode != 403 || strings.Contains(string(b), `"k"`) || len(e.keys.called()) != 0 {
		t.Errorf("foreign origin: %d %s (auth asked %d times), want 403 before auth", res.StatusCode, b, len(e.keys.called()))
	}
	if res, _ := post(t, e.srv.URL+"/play/vid_1/licence?token="+tok, licenceBody(kidOf(fullKey)), "Origin", "https://creator.example"); res.StatusCode != 200 {
		t.Errorf("allowed origin: %d, want 200", res.StatusCode)
	}
}

// putFile writes an object into the store.
func putFile(t *testing.T, store blob.Store, key, body string) {
	t.Helper()
	if _, err := store.Put(t.Context(), key, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func TestEncryptedSegmentsNeedNoToken(t *testing.T) {
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const keyTag = `#EXT-X-KEY:METHOD=SAMPLE-AES,URI="../licence",KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1",KEYID=0xf1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1`
	playlist := func(key string) string {
		return "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:VOD\n" + key +
			"#EXT-X-MAP:URI=\"init.m4s\"\n#EXTINF:1.000,\nseg-00000.m4s\n#EXTINF:1.000,\nseg-00001.m4s\n#EXT-X-ENDLIST\n"
	}
	for id, key := range map[string]string{"vid_enc": keyTag + "\n", "vid_clr": ""} {
		putFile(t, store, "videos/"+id+"/180p/playlist.m3u8", playlist(key))
		putFile(t, store, "videos/"+id+"/180p/init.m4s", "init bytes")
		putFile(t, store, "videos/"+id+"/180p/seg-00000.m4s", "segment bytes")
		putFile(t, store, "videos/"+id+"/master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\n180p/playlist.m3u8\n")
	}
	e := newEnv(t, store, nil, readyVideo("vid_enc", true), readyVideo("vid_clr", true))

	// GetPlaybackInfo says which is encrypted, and where its key is.
	for id, enc := range map[string]bool{"vid_enc": true, "vid_clr": false} {
		res, err := e.client.GetPlaybackInfo(t.Context(), connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: id, Token: e.token(t, id)}))
		if err != nil {
			t.Fatalf("GetPlaybackInfo %s: %v", id, err)
		}
		lic := res.Msg.GetLicenceUrl()
		if res.Msg.GetEncrypted() != enc || (lic != "") != enc || enc && !strings.Contains(lic, "/play/vid_enc/licence?token=") {
			t.Errorf("GetPlaybackInfo %s: encrypted %v, licence_url %q; want encrypted %v with a tokenized licence URL", id, res.Msg.GetEncrypted(), lic, enc)
		}
	}

	for _, rel := range []string{"180p/init.m4s", "180p/seg-00000.m4s"} {
		res, _ := get(t, e.srv.URL+"/play/vid_enc/"+rel)
		if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("encrypted %s without a token: %d %q, want 200 public immutable", rel, res.StatusCode, res.Header.Get("Cache-Control"))
		}
		if res, _ := get(t, e.srv.URL+"/play/vid_clr/"+rel); res.StatusCode != 401 {
			t.Errorf("clear gated %s without a token: %d, want 401", rel, res.StatusCode)
		}
	}
	// The manifests still need a token.
	for _, rel := range []string{"180p/playlist.m3u8", "master.m3u8"} {
		if res, _ := get(t, e.srv.URL+"/play/vid_enc/"+rel); res.StatusCode != 401 {
			t.Errorf("encrypted %s without a token: %d, want 401", rel, res.StatusCode)
		}
	}
	// An encrypted media playlist names its segments without the token,
	// its key with it.
	tok := e.token(t, "vid_enc")
	res, b := get(t, e.srv.URL+"/play/vid_enc/180p/playlist.m3u8?token="+tok)
	if res.StatusCode != 200 {
		t.Fatalf("encrypted playlist: %d %s", res.StatusCode, b)
	}
	body := string(b)
	for _, want := range []string{`URI="../licence?token=`, "\nseg-00000.m4s\n", `#EXT-X-MAP:URI="init.m4s"`} {
		if !strings.Contains(body, want) {
			t.Errorf("encrypted playlist lacks %q:\n%s", want, body)
		}
	}
	// A clear one names them with it.
	res, b = get(t, e.srv.URL+"/play/vid_clr/180p/playlist.m3u8?token="+e.token(t, "vid_clr"))
	if res.StatusCode != 200 || !strings.Contains(string(b), "seg-00000.m4s?token=") {
		t.Errorf("clear playlist: %d\n%s", res.StatusCode, b)
	}
	// The licence answers at the rendition-relative path too.
	e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey))
	if res, b := post(t, e.srv.URL+"/play/vid_enc/180p/licence?token="+tok, licenceBody(kidOf(fullKey))); res.StatusCode != 200 {
		t.Errorf("rendition-relative licence: %d %s", res.StatusCode, b)
	}
}

// TestLicenceMetrics: each licence request counts once, by outcome.
func TestLicenceMetrics(t *testing.T) {
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tel := telemetrytest.New(t, "streaming")
	e := newEnvWith(t, func(c *streaming.Config) { c.MeterProvider = tel.MeterProvider }, store, nil, readyVideo("vid_1", true))
	lic := e.srv.URL + "/play/vid_1/licence?token=" + e.token(t, "vid_1")
	e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey, previewKey))
	post(t, lic, licenceBody(kidOf(fullKey)))
	post(t, lic, licenceBody(kidOf(fullKey)))
	post(t, lic, "{")
	e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW, previewKey))
	post(t, lic, licenceBody(kidOf(previewKey)))
	post(t, lic, licenceBody(kidOf(fullKey)))
	e.keys.set(refused(connect.CodeUnavailable))
	post(t, lic, licenceBody(kidOf(fullKey)))
	post(t, e.srv.URL+"/play/vid_1/licence", licenceBody(kidOf(fullKey)))

	fams := telemetrytest.Families(t, tel.MetricsHandler())
	for outcome, want := range map[string]float64{
		"released_holder": 2, "released_preview": 1, "bad_request": 1, "pass_needed": 1, "unavailable": 1, "token": 1,
	} {
		if got, ok := telemetrytest.Value(fams, "streamgate_streaming_licences_total", "outcome", outcome); !ok || got != want {
			t.Errorf("licences{outcome=%s} = %v (present %v), want %v", outcome, got, ok, want)
		}
	}
}

// The key server reuses auth's release for one wallet, video and kind of
// token for LicenceCacheTTL: within it auth is not asked again; past it,
// or for a preview token's next full token, it is; a refusal is never
// reused; and an ownership.changed for the wallet drops it at once.
func TestLicenceCache(t *testing.T) {
	store, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, bus := eventstest.Bus(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	e := newEnvWith(t, func(c *streaming.Config) { c.LicenceCacheTTL = 2 * time.Second }, store, bus, readyVideo("vid_1", true))
	e.run(t)

	lic := e.srv.URL + "/play/vid_1/licence?token="
	full := e.token(t, "vid_1")
	pc := playbackClaims(e.clock.Now(), "vid_1", 10*time.Minute)
	pc.PreviewSeconds = 4
	pv := e.sign(t, e.key, pc)
	asked := func(want int, what string) {
		t.Helper()
		if n := len(e.keys.called()); n != want {
			t.Errorf("%s: auth asked %d times, want %d", what, n, want)
		}
	}
	status := func(tok, kid string) int {
		t.Helper()
		res, _ := post(t, lic+tok, licenceBody(kid))
		return res.StatusCode
	}

	// A refusal is not kept: the preview token asks each time.
	e.keys.set(refused(connect.CodePermissionDenied))
	status(pv, kidOf(previewKey))
	status(pv, kidOf(previewKey))
	asked(2, "two refused requests")

	e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW, previewKey))
	for i := 0; i < 3; i++ {
		if s := status(pv, kidOf(previewKey)); s != 200 {
			t.Fatalf("the preview key: %d", s)
		}
	}
	asked(1, "three preview requests within the TTL")
	// The full token (after a mint) is not served the preview's answer.
	e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey, previewKey))
	if s := status(full, kidOf(fullKey)); s != 200 {
		t.Fatalf("the full key for a full token: %d", s)
	}
	asked(1, "the full token's first request")
	e.clock.Add(3 * time.Second)
	status(full, kidOf(fullKey))
	asked(2, "past the TTL")

	// The preview wallet mints a pass: its preview token's cached answer
	// (the preview key alone) is dropped when ownership.changed says so,
	// and auth's new answer lets it have the full key.
	e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW, previewKey))
	status(pv, kidOf(previewKey))
	e.keys.set(released(authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, fullKey, previewKey))
	if s := status(pv, kidOf(fullKey)); s != 403 {
		t.Fatalf("the full key from the cached preview answer: %d, want 403", s)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if err := bus.Publish(ctx, &eventsv1.OwnershipChanged{
			EventId: fmt.Sprintf("ownership.changed:vid_1:%s:%d", testAddr, i), OccurTime: timestamppb.New(e.clock.Now()),
			VideoId: "vid_1", Address: testAddr, Allowed: true, BlockNumber: uint64(i),
		}); err != nil {
			t.Fatal(err)
		}
		if status(pv, kidOf(fullKey)) == 200 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the cached answer outlived ownership.changed")
		case <-tick.C:
		}
	}
}
