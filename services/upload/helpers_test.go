package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/mediaprobe"
	"github.com/streamgate/streamgate/internal/video"
)

const (
	alice = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	bob   = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	// waitTimeout bounds every wait on a condition; generous for a busy
	// 2-core machine, and a wait that succeeds returns at once.
	waitTimeout = 30 * time.Second
)

var (
	clipOnce sync.Once
	clipData []byte
	clipErr  error
)

// testClip returns a 2 s 320x240 H.264/AAC MP4, made once per test binary.
func testClip(t *testing.T) []byte {
	t.Helper()
	clipOnce.Do(func() {
		if _, err := exec.LookPath("ffmpeg"); err != nil {
			clipErr = fmt.Errorf("ffmpeg not found: run scripts/install-deps.sh (%v)", err)
			return
		}
		dir, err := os.MkdirTemp("", "upload-clip-")
		if err != nil {
			clipErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "in.mp4")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error",
			"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=2",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			clipErr = fmt.Errorf("ffmpeg: %v\n%s", err, b)
			return
		}
		clipData, clipErr = os.ReadFile(out)
	})
	if clipErr != nil {
		t.Fatal(clipErr)
	}
	return clipData
}

// fakeVideos is MetadataService.CreateVideo, idempotent on request_id.
type fakeVideos struct {
	mu    sync.Mutex
	byReq map[string]*metadatav1.Video
	calls int
	fail  error
}

func (f *fakeVideos) CreateVideo(_ context.Context, req *metadatav1.CreateVideoRequest) (*metadatav1.Video, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	if f.byReq == nil {
		f.byReq = map[string]*metadatav1.Video{}
	}
	key := req.GetCreatorAddress() + "/" + req.GetRequestId()
	if v, ok := f.byReq[key]; ok {
		return v, nil
	}
	v := &metadatav1.Video{Id: video.NewID(), CreatorAddress: req.GetCreatorAddress(), Title: req.GetTitle()}
	f.byReq[key] = v
	return v, nil
}

func (f *fakeVideos) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// clock is an adjustable Config.Now.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

type env struct {
	t      *testing.T
	svc    *Service
	srv    *httptest.Server
	bus    *events.Bus
	blobs  blob.Store
	videos *fakeVideos
	clock  *clock
	cfg    Config
}

type envOptions struct {
	cfg     func(*Config)
	noRun   bool
	probe   Prober
	dataDir string
	// blobs is the media store; nil: a Local in a temp dir.
	blobs blob.Store
	// wrapBus wraps the real bus, e.g. to make publishing fail.
	wrapBus func(Publisher) Publisher
	// share makes this env a second instance beside another: its bus,
	// blob store, metadata fake and clock are share's.
	share *env
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newEnv starts the service (with Run, unless noRun) behind an httptest
// server that serves the Connect API (identity from dev headers) and the
// tus routes, with embedded NATS, a local blob store and real ffprobe.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	logger := testLogger(t)
	var (
		bus    *events.Bus
		blobs  blob.Store
		videos = &fakeVideos{}
		clk    = &clock{}
	)
	if o.share != nil {
		bus, blobs, videos, clk = o.share.bus, o.share.blobs, o.share.videos, o.share.clock
	} else {
		bus, blobs = startBus(t, logger), newBlobs(t)
	}
	if o.blobs != nil {
		blobs = o.blobs
	}
	probe := o.probe
	if probe == nil {
		p, err := mediaprobe.New(mediaprobe.Config{Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		probe = p
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, bus: bus, blobs: blobs, videos: videos, clock: clk}
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	e.cfg = Config{DevMode: true, PublicBaseURL: srv.URL, DataDir: dataDir, Now: e.clock.Now, RetryInterval: 200 * time.Millisecond}
	if o.cfg != nil {
		o.cfg(&e.cfg)
	}
	var pub Publisher = bus
	if o.wrapBus != nil {
		pub = o.wrapBus(bus)
	}
	svc, err := New(e.cfg, e.videos, pub, blobs, probe, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.svc = svc
	path, h := svc.Handler(connect.WithInterceptors(identity.NewInterceptor(true)))
	mux.Handle(path, h)
	for p, h := range svc.HTTPHandlers() {
		mux.Handle(p, h)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	if o.noRun {
		close(done)
	} else {
		go func() { defer close(done); _ = svc.Run(runCtx) }()
	}
	t.Cleanup(func() {
		stop()
		<-done
		srv.Close()
		svc.Close()
	})
	return e
}

func startBus(t *testing.T, logger *slog.Logger) *events.Bus {
	t.Helper()
	_, bus := eventstest.Bus(t)
	return bus
}

func newBlobs(t *testing.T) *blob.Local {
	t.Helper()
	blobs, err := blob.NewLocal(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	return blobs
}

// client returns a Connect client that calls as addr ("" = anonymous).
func (e *env) client(addr string) uploadv1connect.UploadServiceClient {
	return uploadv1connect.NewUploadServiceClient(e.srv.Client(), e.srv.URL,
		connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				if addr != "" {
					req.Header().Set(identity.DevAddressHeader, addr)
				}
				return next(ctx, req)
			}
		})))
}

func (e *env) create(addr string, size int, title string) *uploadv1.Upload {
	e.t.Helper()
	res, err := e.client(addr).CreateUpload(e.t.Context(), connect.NewRequest(&uploadv1.CreateUploadRequest{
		RequestId: ulid.Make().String(), Title: title, SizeBytes: uint64(size), ContentType: "video/mp4", Filename: "clip.mp4",
		Tags: []string{"Demo", "demo", "test"},
	}))
	if err != nil {
		e.t.Fatalf("CreateUpload: %v", err)
	}
	return res.Msg.GetUpload()
}

func (e *env) get(addr, id string) *uploadv1.Upload {
	e.t.Helper()
	res, err := e.client(addr).GetUpload(e.t.Context(), connect.NewRequest(&uploadv1.GetUploadRequest{UploadId: id}))
	if err != nil {
		e.t.Fatalf("GetUpload: %v", err)
	}
	return res.Msg.GetUpload()
}

// waitState polls GetUpload until the upload reaches a terminal state or
// the timeout; it returns the last upload seen.
func (e *env) waitState(addr, id string, want uploadv1.UploadState) *uploadv1.Upload {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		u := e.get(addr, id)
		if u.GetState() == want {
			return u
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("upload %s is %v after %v, want %v (reason %q)", id, u.GetState(), waitTimeout, want, u.GetFailureReason())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tusRequest sends a tus request as addr.
func (e *env) tusRequest(method, url, addr string, offset int64, body io.Reader) *http.Response {
	e.t.Helper()
	resp, err := e.tusDo(method, url, addr, offset, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (e *env) tusDo(method, url, addr string, offset int64, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(e.t.Context(), method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if addr != "" {
		req.Header.Set(identity.DevAddressHeader, addr)
	}
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	}
	return e.srv.Client().Do(req)
}

// patchAll sends data from offset in chunks of chunk bytes, checking each
// answer.
func (e *env) patchAll(url, addr string, data []byte, offset, chunk int) {
	e.t.Helper()
	for offset < len(data) {
		end := min(offset+chunk, len(data))
		resp := e.tusRequest(http.MethodPatch, url, addr, int64(offset), bytes.NewReader(data[offset:end]))
		if resp.StatusCode != http.StatusNoContent {
			e.t.Fatalf("PATCH at %d: status %d, want 204", offset, resp.StatusCode)
		}
		if got := resp.Header.Get("Upload-Offset"); got != strconv.Itoa(end) {
			e.t.Fatalf("PATCH at %d: Upload-Offset %s, want %d", offset, got, end)
		}
		offset = end
	}
}

func (e *env) headOffset(url, addr string) (int, *http.Response) {
	e.t.Helper()
	resp := e.tusRequest(http.MethodHead, url, addr, 0, nil)
	off, _ := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	return off, resp
}

// subjectCount is how many messages the MEDIA stream holds on subject.
func (e *env) subjectCount(subject string) uint64 {
	e.t.Helper()
	st, err := e.bus.JetStream().Stream(e.t.Context(), "MEDIA")
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(e.t.Context(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// tusFiles lists the files in the tus directory.
func (e *env) tusFiles() []string {
	e.t.Helper()
	entries, err := os.ReadDir(e.svc.tusDir)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

// hasTusFiles reports whether the tus directory holds files of upload id
// (a lock file does not count).
func (e *env) hasTusFiles(id string) bool {
	for _, n := range e.tusFiles() {
		if n == id || n == id+".info" {
			return true
		}
	}
	return false
}

func codeOf(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeUnknown
}
