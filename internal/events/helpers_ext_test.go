package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/natsserver"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
)

// waitTimeout bounds every wait on a condition; generous, because a wait
// that succeeds returns at once.
const waitTimeout = 10 * time.Second

// startBus starts a fresh server and returns a connected Bus whose streams
// exist.
func startBus(t *testing.T, opts ...events.Option) (*natsserver.Server, *events.Bus) {
	t.Helper()
	srv := natsservertest.Start(t)
	b := connectBus(t, srv.ClientURL(), opts...)
	if err := b.EnsureStreams(t.Context()); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return srv, b
}

// connectBus connects to url and closes the Bus when the test ends. The
// logger writes to the test output until then.
func connectBus(t *testing.T, url string, opts ...events.Option) *events.Bus {
	t.Helper()
	logger := testLogger(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	b, err := events.Connect(ctx, url, logger, opts...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// subscribe subscribes with t.Context(), which ends (cancelling handlers)
// just before the cleanup that stops the subscription.
func subscribe[T proto.Message](t *testing.T, b *events.Bus, durable string, h events.Handler[T], opts events.SubscribeOptions) *events.Subscription {
	t.Helper()
	sub, err := events.Subscribe(t.Context(), b, durable, h, opts)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", durable, err)
	}
	t.Cleanup(sub.Stop)
	return sub
}

func receive[V any](t *testing.T, ch <-chan V, what string) V {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		panic("unreachable")
	}
}

func assertProtoEqual(t *testing.T, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", prototext.Format(got), prototext.Format(want))
	}
}

// terminatedAdvisory is the part of JetStream's MSG_TERMINATED advisory the
// tests look at.
type terminatedAdvisory struct {
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Reason     string `json:"reason"`
}

// watchTerminated returns a func that waits for the next advisory JetStream
// publishes when durable terminates a message: the observable proof that the
// message will not come back.
func watchTerminated(t *testing.T, b *events.Bus, stream, durable string) func() terminatedAdvisory {
	t.Helper()
	nc := b.JetStream().Conn()
	raw := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."+stream+"."+durable, raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil { // registered before anything is published
		t.Fatal(err)
	}
	return func() terminatedAdvisory {
		t.Helper()
		m := receive(t, raw, "a MSG_TERMINATED advisory")
		var a terminatedAdvisory
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("advisory %s: %v", m.Data, err)
		}
		return a
	}
}

func consumerInfo(t *testing.T, b *events.Bus, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := b.JetStream().Consumer(t.Context(), stream, durable)
	if err != nil {
		t.Fatalf("Consumer(%s, %s): %v", stream, durable, err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	return info
}

func uploadCompleted(id string) *eventsv1.UploadCompleted {
	return &eventsv1.UploadCompleted{
		EventId:        "upload.completed:" + id,
		OccurTime:      timestamppb.New(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)),
		UploadId:       id,
		VideoId:        "vid-" + id,
		CreatorAddress: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		BlobKey:        "uploads/" + id,
		SizeBytes:      1 << 20,
		Sha256:         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		MediaInfo:      &metadatav1.MediaInfo{FormatName: "mp4", Duration: durationpb.New(20 * time.Second)},
		Title:          "Test clip",
		Tags:           []string{"a", "b"},
	}
}

func segmentReady(seq uint32) *eventsv1.SegmentReady {
	return &eventsv1.SegmentReady{
		EventId:   fmt.Sprintf("segment.ready:vid-1:720p:media:%d", seq),
		OccurTime: timestamppb.New(time.Date(2026, 11, 28, 10, 0, 1, 0, time.UTC)),
		JobId:     "job-1",
		VideoId:   "vid-1",
		Rendition: "720p",
		Kind:      eventsv1.SegmentKind_SEGMENT_KIND_MEDIA,
		Sequence:  seq,
		Path:      "720p/seg-00001.m4s",
		SizeBytes: 4096,
		Duration:  durationpb.New(2 * time.Second),
	}
}

// testLogger writes to the test output until the test's cleanups run; the
// subscription goroutines may log while stopping, and writing to a finished
// test panics. Call it before registering cleanups that stop those
// goroutines, so it closes after them.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{w: t.Output()}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	return w.w.Write(p)
}
