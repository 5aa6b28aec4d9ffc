package transcoder_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/internal/testing/s3test"
	"github.com/streamgate/streamgate/internal/transcode"
	"github.com/streamgate/streamgate/services/transcoder"
)

const waitTimeout = 60 * time.Second

const creator = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

var (
	owner    = identity.Caller{Address: creator}
	stranger = identity.Caller{Address: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"}
	operator = identity.Caller{Operator: true}
)

var testLadder = []transcode.Rung{
	{Name: "180p", Height: 180, VideoBitrate: 300_000},
	{Name: "144p", Height: 144, VideoBitrate: 150_000},
}

type env struct {
	natsURL string
	bus     *events.Bus
	blobs   blob.Store
	work    string
}

// newEnv has a Local media store.
func newEnv(t *testing.T) *env {
	t.Helper()
	local, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	return newEnvOn(t, local)
}

// newS3Env has its media store on a real S3 server.
func newS3Env(t *testing.T) *env {
	t.Helper()
	srv := s3test.Start(t)
	srv.SetEnv(t)
	store, err := blob.Open(t.Context(), srv.URL("media"))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, store)
}

func newEnvOn(t *testing.T, blobs blob.Store) *env {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install it with scripts/install-deps.sh", bin)
		}
	}
	srv := natsservertest.Start(t)
	e := &env{natsURL: srv.ClientURL(), work: t.TempDir(), blobs: blobs}
	e.bus = connectBus(t, e.natsURL)
	if err := e.bus.EnsureStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

func connectBus(t *testing.T, url string) *events.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := events.Connect(ctx, url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func testConfig(work, instance string) transcoder.Config {
	return transcoder.Config{
		InstanceID: instance, Workers: 1, AckWait: 2 * time.Second, RetryDelay: 200 * time.Millisecond,
		ProgressInterval: 100 * time.Millisecond,
		Transcode:        transcode.Config{WorkDir: work, Ladder: testLadder, Preset: "ultrafast", PollInterval: 50 * time.Millisecond},
	}
}

// start runs a service instance until the test ends or stop is called.
func (e *env) start(t *testing.T, instance string) (svc *transcoder.Service, stop func()) {
	t.Helper()
	svc, err := transcoder.New(testConfig(e.work, instance), e.bus, e.blobs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return svc, stop
}

// clip makes a test clip: kind "av" or "junk".
func clip(t *testing.T, seconds int) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.CommandContext(t.Context(), "ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload stores src as an upload and publishes its upload.completed.
func (e *env) upload(t *testing.T, n int, src []byte) *eventsv1.UploadCompleted {
	t.Helper()
	key := fmt.Sprintf("uploads/upl_%d/source", n)
	if _, err := e.blobs.Put(t.Context(), key, bytes.NewReader(src)); err != nil {
		t.Fatal(err)
	}
	ev := &eventsv1.UploadCompleted{
		EventId: fmt.Sprintf("upload.completed:upl_%d", n), OccurTime: timestamppb.Now(),
		UploadId: fmt.Sprintf("upl_%d", n), VideoId: fmt.Sprintf("vid_%d", n), CreatorAddress: creator,
		BlobKey: key, SizeBytes: uint64(len(src)),
	}
	if err := e.bus.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// jobOf waits for the job of a video to exist.
func jobOf(t *testing.T, svc *transcoder.Service, videoID string) *transcoder.Job {
	t.Helper()
	var job *transcoder.Job
	poll.Until(t, waitTimeout, "a job for "+videoID, func() bool {
		jobs, _, err := svc.ListJobs(t.Context(), owner, transcoder.ListParams{VideoID: videoID})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) > 0 {
			job = jobs[0]
		}
		return job != nil
	})
	return job
}

// watch runs WatchJob in the background; onMsg sees every message.
type watcher struct {
	mu   sync.Mutex
	msgs []*transcoderv1.WatchJobResponse
	done chan error
}

func watch(ctx context.Context, svc *transcoder.Service, id string, data bool, onMsg func(*transcoderv1.WatchJobResponse)) *watcher {
	return watchResume(ctx, svc, id, data, nil, onMsg)
}

// watchResume is watch with WatchJobRequest.resume_after_sequences.
func watchResume(ctx context.Context, svc *transcoder.Service, id string, data bool, resume map[string]uint32, onMsg func(*transcoderv1.WatchJobResponse)) *watcher {
	w := &watcher{done: make(chan error, 1)}
	go func() {
		w.done <- svc.WatchJob(ctx, owner, id, data, resume, func(m *transcoderv1.WatchJobResponse) error {
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			w.mu.Unlock()
			if onMsg != nil {
				onMsg(m)
			}
			return nil
		})
	}()
	return w
}

func (w *watcher) wait(t *testing.T) []*transcoderv1.WatchJobResponse {
	t.Helper()
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("WatchJob: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("WatchJob did not end")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.msgs
}

// collect subscribes to an event type with a fresh durable.
func collect[T proto.Message](t *testing.T, bus *events.Bus, durable string) func() []T {
	var mu sync.Mutex
	var got []T
	sub, err := events.Subscribe(t.Context(), bus, durable, func(_ context.Context, ev T) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		return nil
	}, events.SubscribeOptions{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	return func() []T {
		mu.Lock()
		defer mu.Unlock()
		return append([]T(nil), got...)
	}
}
