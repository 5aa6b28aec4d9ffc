package streaming_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1/streamingv1connect"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/transcode"
	"github.com/streamgate/streamgate/internal/video"
	"github.com/streamgate/streamgate/services/streaming"
)

const (
	issuer   = "streamgate-auth"
	testAddr = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	// waitTimeout bounds every wait on a condition; generous, a wait that
	// succeeds returns at once.
	waitTimeout = 20 * time.Second
)

// media is one real transcode (vid_1, two renditions, 1 s segments),
// shared by the package's tests; read-only.
var media struct {
	once  sync.Once
	dir   string
	store *blob.Local
	res   *transcode.Result
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if media.store != nil {
		_ = media.store.Close()
	}
	if media.dir != "" {
		_ = os.RemoveAll(media.dir)
	}
	os.Exit(code)
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install it with scripts/install-deps.sh", bin)
		}
	}
}

// encoded returns the shared store holding videos/vid_1/... from a real
// transcode.
func encoded(t *testing.T) *blob.Local {
	t.Helper()
	needFFmpeg(t)
	media.once.Do(func() { media.err = encode() })
	if media.err != nil {
		t.Fatalf("transcode fixture: %v", media.err)
	}
	return media.store
}

func encode() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "streaming-test-")
	if err != nil {
		return err
	}
	media.dir = dir
	for _, d := range []string{"store", "work"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	src := filepath.Join(dir, "clip.mp4")
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", src).CombinedOutput()
	if err != nil {
		return fmt.Errorf("make clip: %v: %s", err, out)
	}
	store, err := blob.NewLocal(filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	media.store = store
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := store.Put(ctx, "uploads/upl_1/source", f); err != nil {
		return err
	}
	tc, err := transcode.New(transcode.Config{
		WorkDir: filepath.Join(dir, "work"), Preset: "ultrafast", SegmentDuration: time.Second, PollInterval: 50 * time.Millisecond,
		Ladder: []transcode.Rung{
			{Name: "180p", Height: 180, VideoBitrate: 200_000, AudioBitrate: 64_000},
			{Name: "144p", Height: 144, VideoBitrate: 100_000, AudioBitrate: 64_000},
		},
	}, store, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	media.res, err = tc.Run(ctx, transcode.Job{ID: "job_1", VideoID: "vid_1", SourceKey: "uploads/upl_1/source"})
	return err
}

// readyVideo is vid_1 as metadata describes it once encoded.
func readyVideo(id string, gated bool) *metadatav1.Video {
	v := &metadatav1.Video{Id: id, Status: metadatav1.VideoStatus_VIDEO_STATUS_READY, HlsManifestPath: "master.m3u8", DashManifestPath: "manifest.mpd"}
	if media.res != nil {
		for _, r := range media.res.Renditions {
			v.Renditions = append(v.Renditions, &metadatav1.Rendition{Name: r.Name, PlaylistPath: r.PlaylistPath, SegmentCount: uint32(r.SegmentCount)})
		}
	}
	if gated {
		v.AccessPolicy = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY}
	}
	return v
}

type fakeVideos struct {
	mu     sync.Mutex
	videos map[string]*metadatav1.Video
	calls  int
	fail   error
}

func (f *fakeVideos) GetVideo(_ context.Context, id string) (*metadatav1.Video, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	v, ok := f.videos[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", video.ErrNotFound, id)
	}
	return v, nil
}

func (f *fakeVideos) set(v *metadatav1.Video) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.videos[v.GetId()] = v
}

type keySource struct{ keys []authtoken.SigningKey }

func (k *keySource) GetSigningKeys(context.Context, *connect.Request[authv1.GetSigningKeysRequest]) (*connect.Response[authv1.GetSigningKeysResponse], error) {
	res := &authv1.GetSigningKeysResponse{CacheMaxAgeSeconds: 300}
	for _, key := range k.keys {
		res.Keys = append(res.Keys, authtoken.JWK(key.ID, key.Public()))
	}
	return connect.NewResponse(res), nil
}

// clock is a settable clock shared by the service and the verifier.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	svc    *streaming.Service
	videos *fakeVideos
	key    authtoken.SigningKey
	clock  *clock
	keys   *fakeKeys
	srv    *httptest.Server // mux with /play/ and the Connect handler
	raw    *httptest.Server // the /play/ handler alone, no ServeMux cleaning
	client streamingv1connect.StreamingServiceClient
}

func newEnv(t testing.TB, store blob.Store, bus *events.Bus, videos ...*metadatav1.Video) *env {
	t.Helper()
	return newEnvWith(t, nil, store, bus, videos...)
}

// newEnvWith is newEnv with a hook that adjusts the service's Config.
func newEnvWith(t testing.TB, adjust func(*streaming.Config), store blob.Store, bus *events.Bus, videos ...*metadatav1.Video) *env {
	t.Helper()
	return newEnvKeys(t, adjust, nil, store, bus, videos...)
}

// newEnvKeys is newEnvWith with the key server's source of keys: keys, or
// e.keys (a fake) when nil.
func newEnvKeys(t testing.TB, adjust func(*streaming.Config), keys streaming.ContentKeys, store blob.Store, bus *events.Bus, videos ...*metadatav1.Video) *env {
	t.Helper()
	key, err := authtoken.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now()}
	ver, err := authtoken.NewVerifier(&keySource{keys: []authtoken.SigningKey{key}}, authtoken.VerifierConfig{Issuer: issuer, Now: clk.Now}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fv := &fakeVideos{videos: map[string]*metadatav1.Video{}}
	for _, v := range videos {
		fv.set(v)
	}
	e := &env{videos: fv, key: key, clock: clk, keys: &fakeKeys{}}
	mux := http.NewServeMux()
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	// Licences ask the fake auth every time, so that a test may change its
	// answer; TestLicenceCache and the benchmarks turn the cache on.
	cfg := streaming.Config{PublicBaseURL: e.srv.URL, PollInterval: time.Hour, Now: clk.Now, LicenceCacheTTL: -1}
	if adjust != nil {
		adjust(&cfg)
	}
	if keys == nil {
		keys = e.keys
	}
	e.svc, err = streaming.New(cfg, store, fv, ver, keys, bus, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for p, h := range e.svc.HTTPHandlers() {
		mux.Handle(p, h)
	}
	mux.Handle(e.svc.Handler())
	e.raw = httptest.NewServer(e.svc.HTTPHandlers()["/play/"])
	t.Cleanup(e.raw.Close)
	e.client = streamingv1connect.NewStreamingServiceClient(e.srv.Client(), e.srv.URL)
	return e
}

func playbackClaims(now time.Time, videoID string, ttl time.Duration) *authtoken.PlaybackClaims {
	return &authtoken.PlaybackClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: videoID,
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Type: authtoken.TypePlayback, Address: testAddr, SessionID: "ses_1",
	}
}

func (e *env) token(t testing.TB, videoID string) string {
	t.Helper()
	return e.sign(t, e.key, playbackClaims(e.clock.Now(), videoID, 10*time.Minute))
}

func (e *env) sign(t testing.TB, key authtoken.SigningKey, c jwt.Claims) string {
	t.Helper()
	tok, err := authtoken.Sign(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func otherKey(t *testing.T) authtoken.SigningKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return authtoken.NewSigningKey(priv)
}

// get fetches u with optional headers (name, value pairs).
func get(t *testing.T, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
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

// rawGet sends target verbatim as the request line, bypassing every client
// normalization, and returns the status and body.
func rawGet(t *testing.T, srv *httptest.Server, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", target); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %q: %v", target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

var _ = strings.Contains

func slog0() *slog.Logger { return slog.New(slog.DiscardHandler) }

// run runs the service's event followers (Run) until the test ends, and
// fails the test if Run returns an error.
func (e *env) run(t *testing.T) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
