package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/mediaprobe"
	"github.com/streamgate/streamgate/services/upload"
)

type cliVideos struct {
	mu    sync.Mutex
	calls int
	ids   map[string]string
}

func (v *cliVideos) CreateVideo(_ context.Context, req *metadatav1.CreateVideoRequest) (*metadatav1.Video, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	if v.ids == nil {
		v.ids = map[string]string{}
	}
	if id, ok := v.ids[req.GetRequestId()]; ok {
		return &metadatav1.Video{Id: id}, nil
	}
	id := "vid_" + strings.Repeat("0", 25) + string(rune('A'+len(v.ids)))
	v.ids[req.GetRequestId()] = id
	return &metadatav1.Video{Id: id}, nil
}

// startUploadService serves the upload service (Connect + tus) like the
// gateway would, with middleware around the tus routes.
func startUploadService(t *testing.T, videos upload.Videos, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, bus := eventstest.Bus(t)
	blobs, err := blob.NewLocal(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	probe, err := mediaprobe.New(mediaprobe.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	svc, err := upload.New(upload.Config{DevMode: true, PublicBaseURL: srv.URL, DataDir: t.TempDir(), RetryInterval: 200 * time.Millisecond},
		videos, bus, blobs, probe, logger)
	if err != nil {
		t.Fatal(err)
	}
	path, h := svc.Handler(connect.WithInterceptors(identity.NewInterceptor(true)))
	mux.Handle(path, h)
	for p, h := range svc.HTTPHandlers() {
		mux.Handle(p, wrap(h))
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
		srv.Close()
		svc.Close()
	})
	return srv
}

func makeTestClip(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg not found: run scripts/install-deps.sh (%v)", err)
	}
	out := filepath.Join(t.TempDir(), "holiday.mp4")
	cmd := exec.CommandContext(t.Context(), "ffmpeg", "-nostdin", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

// cutBody lets limit bytes through and then fails, as when the
// connection drops; it calls cut once at that point.
type cutBody struct {
	io.ReadCloser
	left int64
	cut  func()
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.cut()
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	k, err := c.ReadCloser.Read(p)
	c.left -= int64(k)
	return k, err
}

func TestUploadCommandResumesAfterInterruption(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	clip := makeTestClip(t)
	data, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	// The first run is interrupted once the server has read a third of
	// the file, as if the user pressed Ctrl-C.
	firstCtx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	var interrupted atomic.Bool
	videos := &cliVideos{}
	srv := startUploadService(t, videos, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch && interrupted.CompareAndSwap(false, true) {
				r.Body = &cutBody{ReadCloser: r.Body, left: int64(len(data) / 3), cut: interrupt}
			}
			next.ServeHTTP(w, r)
		})
	})
	args := []string{clip, "--title", "Holiday", "--json", "--gateway", srv.URL, "--dev-address", "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}

	var out1, err1 bytes.Buffer
	if err := runUpload(firstCtx, args, &out1, &err1); err == nil {
		t.Fatalf("interrupted run succeeded; stderr:\n%s", err1.String())
	}
	if !interrupted.Load() {
		t.Fatal("the first run was never interrupted")
	}

	var out2, err2 bytes.Buffer
	if err := runUpload(t.Context(), args, &out2, &err2); err != nil {
		t.Fatalf("second run: %v\nstderr:\n%s", err, err2.String())
	}
	if !strings.Contains(err2.String(), "resuming upload") {
		t.Errorf("second run did not resume; stderr:\n%s", err2.String())
	}
	if !strings.Contains(err2.String(), "ETA") || !strings.Contains(err2.String(), "/s") || !strings.Contains(err2.String(), "100.0%") {
		t.Errorf("no progress line with bytes, rate and ETA; stderr:\n%q", err2.String())
	}
	lines := strings.Split(strings.TrimSpace(out2.String()), "\n")
	var res struct {
		UploadID string `json:"upload_id"`
		VideoID  string `json:"video_id"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.UploadID == "" || res.VideoID == "" {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if videos.calls != 1 {
		t.Errorf("CreateVideo calls = %d, want 1 (the resumed run must not create a new upload)", videos.calls)
	}
	// The server has the whole file, byte for byte.
	client := uploadv1connect.NewUploadServiceClient(srv.Client(), srv.URL)
	req := connect.NewRequest(&uploadv1.GetUploadRequest{UploadId: res.UploadID})
	req.Header().Set(identity.DevAddressHeader, "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	got, err := client.GetUpload(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if u := got.Msg.GetUpload(); u.GetState() != uploadv1.UploadState_UPLOAD_STATE_COMPLETED || u.GetSha256() != hex.EncodeToString(want[:]) || u.GetTitle() != "Holiday" || u.GetFilename() != "holiday.mp4" {
		t.Errorf("upload = %v, want COMPLETED with sha256 %x", u, want)
	}
	// The resume state is gone once the upload is done.
	matches, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "streamgate", "uploads", "*.json"))
	if len(matches) != 0 {
		t.Errorf("state files left: %v", matches)
	}
}

func TestUploadCommandUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}, {"--nope", "x"}} {
		var out, errb bytes.Buffer
		if err := runUpload(t.Context(), args, &out, &errb); err != errUsage {
			t.Errorf("runUpload(%q) = %v, want errUsage", args, err)
		}
	}
	var out, errb bytes.Buffer
	if err := runUpload(t.Context(), []string{"x.mp4", "--dev-address", "nope"}, &out, &errb); err == nil {
		t.Error("a bad --dev-address was accepted")
	}
}
