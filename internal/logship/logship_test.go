package logship_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/logship"
)

type fakePub struct {
	mu    sync.Mutex
	got   []*eventsv1.LogRecord
	block chan struct{} // when non-nil, Publish waits on it
	err   error
	added chan struct{}
}

func newFakePub() *fakePub { return &fakePub{added: make(chan struct{}, 1000)} }

func (f *fakePub) Publish(ctx context.Context, msg proto.Message) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	f.got = append(f.got, msg.(*eventsv1.LogRecord))
	f.mu.Unlock()
	f.added <- struct{}{}
	return nil
}

func (f *fakePub) wait(t *testing.T, n int) []*eventsv1.LogRecord {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		if len(f.got) >= n {
			out := append([]*eventsv1.LogRecord(nil), f.got...)
			f.mu.Unlock()
			return out
		}
		f.mu.Unlock()
		select {
		case <-f.added:
		case <-deadline:
			t.Fatalf("timed out waiting for %d published records", n)
		}
	}
}

func start(t *testing.T, cfg logship.Config, pub logship.Publisher) (*logship.Shipper, *slog.Logger, *bytes.Buffer) {
	t.Helper()
	s, err := logship.New(cfg, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var out bytes.Buffer
	return s, slog.New(s.Handler(slog.NewTextHandler(&syncWriter{w: &out}, &slog.HandlerOptions{Level: slog.LevelInfo}))), &out
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestNewValidates(t *testing.T) {
	if _, err := logship.New(logship.Config{}, newFakePub(), nil); err == nil {
		t.Error("empty Service: want error")
	}
	if _, err := logship.New(logship.Config{Service: "x"}, nil, nil); err == nil {
		t.Error("nil publisher: want error")
	}
}

func TestShipsWarnAlwaysAndSamplesInfo(t *testing.T) {
	pub := newFakePub()
	_, log, out := start(t, logship.Config{Service: "upload", InstanceID: "i-1", InfoSampleEvery: 3}, pub)

	for range 6 {
		log.Info("info line") // 1st and 4th are shipped
	}
	log.Debug("debug line") // never
	log.Warn("warn line", "n", 7)
	log.Error("error line", "err", errors.New("boom"))

	got := pub.wait(t, 4)
	if len(got) != 4 {
		t.Fatalf("published %d records, want 4", len(got))
	}
	var levels []eventsv1.LogLevel
	for _, r := range got {
		levels = append(levels, r.GetLevel())
		if r.GetService() != "upload" || r.GetInstanceId() != "i-1" || r.GetEventId() == "" || r.GetOccurTime() == nil {
			t.Errorf("record missing identity: %v", r)
		}
	}
	want := []eventsv1.LogLevel{eventsv1.LogLevel_LOG_LEVEL_INFO, eventsv1.LogLevel_LOG_LEVEL_INFO, eventsv1.LogLevel_LOG_LEVEL_WARN, eventsv1.LogLevel_LOG_LEVEL_ERROR}
	for i := range want {
		if levels[i] != want[i] {
			t.Fatalf("levels %v, want %v", levels, want)
		}
	}
	if got[2].GetAttributes()["n"] != "7" || got[3].GetAttributes()["err"] != "boom" {
		t.Errorf("attributes: %v / %v", got[2].GetAttributes(), got[3].GetAttributes())
	}
	if c := strings.Count(out.String(), "info line"); c != 6 {
		t.Errorf("wrapped handler saw %d info lines, want all 6", c)
	}
}

func TestTraceAndGroups(t *testing.T) {
	pub := newFakePub()
	_, log, _ := start(t, logship.Config{Service: "gw"}, pub)
	tid, _ := trace.TraceIDFromHex("0123456789abcdef0123456789abcdef")
	sid, _ := trace.SpanIDFromHex("0123456789abcdef")
	ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	log.With("a", 1).WithGroup("g").With("b", 2).WarnContext(ctx, "msg", "c", 3, slog.Group("h", "d", 4))
	r := pub.wait(t, 1)[0]
	if r.GetTraceId() != tid.String() || r.GetSpanId() != sid.String() {
		t.Errorf("trace %s/%s, want %s/%s", r.GetTraceId(), r.GetSpanId(), tid, sid)
	}
	want := map[string]string{"a": "1", "g.b": "2", "g.c": "3", "g.h.d": "4"}
	for k, v := range want {
		if r.GetAttributes()[k] != v {
			t.Errorf("attribute %s = %q, want %q (all %v)", k, r.GetAttributes()[k], v, r.GetAttributes())
		}
	}
}

func TestAttributesCapped(t *testing.T) {
	pub := newFakePub()
	_, log, _ := start(t, logship.Config{Service: "gw"}, pub)
	var args []any
	for i := range 50 {
		args = append(args, string(rune('A'+i%26))+strings.Repeat("x", i/26), i)
	}
	log.Warn("many", args...)
	if n := len(pub.wait(t, 1)[0].GetAttributes()); n != 32 {
		t.Errorf("%d attributes, want 32", n)
	}
}

func TestFullBufferDropsWithoutBlocking(t *testing.T) {
	pub := newFakePub()
	pub.block = make(chan struct{})
	s, log, _ := start(t, logship.Config{Service: "gw", BufferSize: 2}, pub)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			log.Warn("w")
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logging blocked on a stuck bus")
	}
	// At most BufferSize queued plus one in the publisher.
	if d := s.Stats().Dropped; d < 17 {
		t.Errorf("dropped %d, want >= 17", d)
	}
	close(pub.block)
	pub.wait(t, 20-int(s.Stats().Dropped))
}

func TestPublishFailureCounted(t *testing.T) {
	pub := newFakePub()
	pub.err = errors.New("bus down")
	s, log, _ := start(t, logship.Config{Service: "gw"}, pub)
	log.Error("e")
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Failed != 1 {
		if time.Now().After(deadline) {
			t.Fatal("failure not counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
