package events_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/natsserver"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

func TestSubject(t *testing.T) {
	tests := []struct {
		msg     proto.Message
		want    string
		wantErr error
	}{
		{msg: &eventsv1.UploadCompleted{}, want: "upload.completed"},
		{msg: &eventsv1.SegmentReady{}, want: "segment.ready"},
		{msg: &eventsv1.VideoReady{}, want: "video.ready"},
		{msg: &eventsv1.VideoChanged{}, want: "video.changed"},
		{msg: &eventsv1.OwnershipChanged{}, want: "ownership.changed"},
		{msg: &eventsv1.LogRecord{}, want: "log.record"},
		{msg: &eventsv1.RenditionProgress{}, wantErr: events.ErrInvalidEvent}, // a part of an event, not one
	}
	for _, tt := range tests {
		name := string(tt.msg.ProtoReflect().Descriptor().Name())
		t.Run(name, func(t *testing.T) {
			got, err := events.Subject(tt.msg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Subject() error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Subject() = %q, want %q", got, tt.want)
			}
		})
	}
}

// The expected layout is spelled out on purpose: it is the contract other
// teams rely on. A new event in events.proto belongs in this table too.
func TestEnsureStreams(t *testing.T) {
	const day = 24 * time.Hour
	want := map[string]struct {
		subjects []string
		maxAge   time.Duration
	}{
		"ACCESS": {[]string{"ownership.changed", "session.revoked"}, 7 * day},
		"LOGS":   {[]string{"log.record"}, day},
		"MEDIA": {[]string{
			"segment.ready", "transcode.completed", "transcode.failed",
			"transcode.progress", "upload.completed", "upload.failed",
		}, 7 * day},
		"MONITOR": {[]string{"alert.transitioned"}, 7 * day},
		"VIDEOS":  {[]string{"video.changed", "video.failed", "video.ready"}, 30 * day},
	}

	srv := natsservertest.Start(t)
	b := connectBus(t, srv.ClientURL())
	js := b.JetStream()

	// A stream that exists already, with a limit an operator changed and
	// fewer subjects than the contracts name, gains the missing subjects
	// and keeps the limit.
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "MEDIA", Subjects: []string{"upload.completed"}, Storage: jetstream.FileStorage, MaxAge: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	want["MEDIA"] = struct {
		subjects []string
		maxAge   time.Duration
	}{want["MEDIA"].subjects, time.Hour}
	if err := b.EnsureStreams(t.Context()); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	if err := b.Publish(t.Context(), uploadCompleted("u1")); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureStreams(t.Context()); err != nil {
		t.Fatalf("EnsureStreams again: %v", err)
	}

	var names []string
	for name := range js.StreamNames(t.Context()).Name() {
		names = append(names, name)
	}
	slices.Sort(names)
	if wantNames := []string{"ACCESS", "LOGS", "MEDIA", "MONITOR", "VIDEOS"}; !slices.Equal(names, wantNames) {
		t.Fatalf("streams = %v, want %v", names, wantNames)
	}
	for name, w := range want {
		s, err := js.Stream(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg := info.Config
		got := slices.Sorted(slices.Values(cfg.Subjects))
		if !slices.Equal(got, w.subjects) {
			t.Errorf("%s subjects = %v, want %v", name, got, w.subjects)
		}
		if cfg.MaxAge != w.maxAge {
			t.Errorf("%s MaxAge = %s, want %s", name, cfg.MaxAge, w.maxAge)
		}
		if cfg.Replicas != 1 {
			t.Errorf("%s Replicas = %d, want 1", name, cfg.Replicas)
		}
		if name != "MEDIA" && cfg.Duplicates != 2*time.Minute {
			t.Errorf("%s Duplicates = %s, want 2m", name, cfg.Duplicates)
		}
		if cfg.Storage != jetstream.FileStorage || cfg.Retention != jetstream.LimitsPolicy {
			t.Errorf("%s storage, retention = %s, %s; want file, limits", name, cfg.Storage, cfg.Retention)
		}
		if name == "MEDIA" && info.State.Msgs != 1 {
			t.Errorf("MEDIA holds %d messages after EnsureStreams twice, want the 1 published", info.State.Msgs)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	_, b := startBus(t)
	t.Run("UploadCompleted", func(t *testing.T) {
		roundTrip(t, b, "roundtrip-upload", uploadCompleted("u1"))
	})
	t.Run("SegmentReady", func(t *testing.T) {
		roundTrip(t, b, "roundtrip-segment", segmentReady(1))
	})
}

func roundTrip[T proto.Message](t *testing.T, b *events.Bus, durable string, want T) {
	type delivery struct {
		event T
		info  events.Delivery
	}
	got := make(chan delivery, 1)
	subscribe(t, b, durable, func(ctx context.Context, event T) error {
		info, _ := events.DeliveryFromContext(ctx)
		got <- delivery{event, info}
		return nil
	}, events.SubscribeOptions{})
	if err := b.Publish(t.Context(), want); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	d := receive(t, got, "the event")
	assertProtoEqual(t, d.event, want)
	subject, _ := events.Subject(want)
	if d.info.Subject != subject || d.info.NumDelivered != 1 || d.info.Consumer != durable {
		t.Errorf("delivery = %+v, want subject %s, consumer %s, delivered once", d.info, subject, durable)
	}
}

func TestPublishSameEventIDStoresOnce(t *testing.T) {
	_, b := startBus(t)
	first := uploadCompleted("u1")
	again := uploadCompleted("u1")
	again.Title = "republished after a crash" // same event_id: still the same event
	for _, ev := range []*eventsv1.UploadCompleted{first, again} {
		if err := b.Publish(t.Context(), ev); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	s, err := b.JetStream().Stream(t.Context(), "MEDIA")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("MEDIA holds %d messages, want 1", info.State.Msgs)
	}
	stored, err := s.GetMsg(t.Context(), info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Header.Get(jetstream.MsgIDHeader); got != first.EventId {
		t.Errorf("Nats-Msg-Id = %q, want %q", got, first.EventId)
	}
	if got, want := stored.Header.Get(events.EventTypeHeader), "streamgate.events.v1.UploadCompleted"; got != want {
		t.Errorf("%s = %q, want %q", events.EventTypeHeader, got, want)
	}
}

func TestPublishRejectsInvalidEvents(t *testing.T) {
	_, b := startBus(t)
	noID := uploadCompleted("u1")
	noID.EventId = ""
	for name, msg := range map[string]proto.Message{
		"empty event_id": noID,
		"not an event":   &eventsv1.RenditionProgress{Name: "720p"},
	} {
		if err := b.Publish(t.Context(), msg); !errors.Is(err, events.ErrInvalidEvent) {
			t.Errorf("%s: Publish() error = %v, want %v", name, err, events.ErrInvalidEvent)
		}
	}
}

func TestHandlerErrorIsRedelivered(t *testing.T) {
	_, b := startBus(t)
	var attempts []uint64 // written by the handler, read after Stop
	done := make(chan struct{})
	sub := subscribe(t, b, "retry", func(ctx context.Context, ev *eventsv1.UploadCompleted) error {
		d, _ := events.DeliveryFromContext(ctx)
		attempts = append(attempts, d.NumDelivered)
		if d.NumDelivered == 1 {
			return errors.New("metadata service unavailable")
		}
		close(done)
		return nil
	}, events.SubscribeOptions{Backoff: []time.Duration{50 * time.Millisecond}})

	if err := b.Publish(t.Context(), uploadCompleted("u1")); err != nil {
		t.Fatal(err)
	}
	receive(t, done, "the successful second attempt")
	sub.Stop() // waits for the ack

	if want := []uint64{1, 2}; !slices.Equal(attempts, want) {
		t.Errorf("deliveries = %v, want %v", attempts, want)
	}
	if info := consumerInfo(t, b, "MEDIA", "retry"); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("after success: ack pending %d, pending %d; want 0, 0", info.NumAckPending, info.NumPending)
	}
}

func TestGiveUpAfterMaxDeliver(t *testing.T) {
	_, b := startBus(t)
	nextTerminated := watchTerminated(t, b, "MEDIA", "maxdeliver")
	var calls atomic.Int32
	subscribe(t, b, "maxdeliver", func(context.Context, *eventsv1.UploadCompleted) error {
		calls.Add(1)
		return errors.New("still failing")
	}, events.SubscribeOptions{MaxDeliver: 2, Backoff: []time.Duration{10 * time.Millisecond}})
	if err := b.Publish(t.Context(), uploadCompleted("u1")); err != nil {
		t.Fatal(err)
	}
	a := nextTerminated()
	if a.Deliveries != 2 || calls.Load() != 2 {
		t.Errorf("terminated after %d deliveries and %d calls, want 2 and 2", a.Deliveries, calls.Load())
	}
}

func TestPermanentErrorIsNotRedelivered(t *testing.T) {
	_, b := startBus(t)
	nextTerminated := watchTerminated(t, b, "MEDIA", "permanent")
	var calls atomic.Int32
	sub := subscribe(t, b, "permanent", func(context.Context, *eventsv1.UploadCompleted) error {
		calls.Add(1)
		return events.Permanent(errors.New("video does not exist"))
	}, events.SubscribeOptions{Backoff: []time.Duration{10 * time.Millisecond}})
	if err := b.Publish(t.Context(), uploadCompleted("u1")); err != nil {
		t.Fatal(err)
	}
	a := nextTerminated()
	sub.Stop()
	if a.Deliveries != 1 || !strings.Contains(a.Reason, "video does not exist") {
		t.Errorf("advisory = %+v, want 1 delivery and the handler's error as reason", a)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
	if info := consumerInfo(t, b, "MEDIA", "permanent"); info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("ack pending %d, redelivered %d; want 0, 0", info.NumAckPending, info.NumRedelivered)
	}
}

func TestUndecodablePayloadIsTerminated(t *testing.T) {
	_, b := startBus(t)
	nextTerminated := watchTerminated(t, b, "MEDIA", "undecodable")
	handled := make(chan *eventsv1.UploadCompleted, 4)
	subscribe(t, b, "undecodable", func(_ context.Context, ev *eventsv1.UploadCompleted) error {
		handled <- ev
		return nil
	}, events.SubscribeOptions{})

	segment, err := proto.Marshal(segmentReady(1))
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name     string
		data     []byte
		typeName string
	}{
		{"not protobuf", []byte("\xff\xff\xff\xff"), ""},
		{"another event type", segment, "streamgate.events.v1.SegmentReady"},
	}
	for _, tt := range bad {
		m := nats.NewMsg("upload.completed")
		m.Data = tt.data
		if tt.typeName != "" {
			m.Header.Set(events.EventTypeHeader, tt.typeName)
		}
		ack, err := b.JetStream().PublishMsg(t.Context(), m)
		if err != nil {
			t.Fatal(err)
		}
		a := nextTerminated()
		if a.StreamSeq != ack.Sequence || !strings.HasPrefix(a.Reason, "undecodable") {
			t.Errorf("%s: advisory %+v, want stream_seq %d terminated as undecodable", tt.name, a, ack.Sequence)
		}
	}
	// The consumer goes on with the next good event.
	want := uploadCompleted("u1")
	if err := b.Publish(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	assertProtoEqual(t, receive(t, handled, "the good event"), want)
	if len(handled) != 0 {
		t.Errorf("handler saw %d more events, want none", len(handled))
	}
}

func TestTraceContextReachesHandler(t *testing.T) {
	tests := []struct {
		name string
		opts []events.Option
	}{
		{name: "default", opts: nil},
		{name: "with baggage", opts: []events.Option{events.WithPropagator(
			propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, b := startBus(t, tt.opts...)
			recorder := tracetest.NewSpanRecorder()
			tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)).Tracer("test")

			type seen struct {
				parent trace.SpanContext
				member string
			}
			got := make(chan seen, 1)
			subscribe(t, b, "trace", func(ctx context.Context, ev *eventsv1.UploadCompleted) error {
				s := seen{trace.SpanContextFromContext(ctx), baggage.FromContext(ctx).Member("tenant").Value()}
				_, span := tracer.Start(ctx, "handle")
				span.End() // before the test looks for it
				got <- s
				return nil
			}, events.SubscribeOptions{})

			member, err := baggage.NewMember("tenant", "t1")
			if err != nil {
				t.Fatal(err)
			}
			bag, err := baggage.New(member)
			if err != nil {
				t.Fatal(err)
			}
			ctx, publishSpan := tracer.Start(baggage.ContextWithBaggage(t.Context(), bag), "publish")
			err = b.Publish(ctx, uploadCompleted("u1"))
			publishSpan.End()
			if err != nil {
				t.Fatal(err)
			}

			s := receive(t, got, "the handler")
			pub := publishSpan.SpanContext()
			if s.parent.TraceID() != pub.TraceID() || s.parent.SpanID() != pub.SpanID() || !s.parent.IsRemote() {
				t.Errorf("handler ctx span = %s/%s (remote %t), want the publisher's %s/%s, remote",
					s.parent.TraceID(), s.parent.SpanID(), s.parent.IsRemote(), pub.TraceID(), pub.SpanID())
			}
			var handleSpan sdktrace.ReadOnlySpan
			for _, sp := range recorder.Ended() {
				if sp.Name() == "handle" {
					handleSpan = sp
				}
			}
			if handleSpan == nil {
				t.Fatal("no handle span recorded")
			}
			if p := handleSpan.Parent(); p.SpanID() != pub.SpanID() || !p.IsRemote() {
				t.Errorf("handle span parent = %s (remote %t), want the publish span %s, remote", p.SpanID(), p.IsRemote(), pub.SpanID())
			}
			wantMember := ""
			if tt.opts != nil {
				wantMember = "t1"
			}
			if s.member != wantMember {
				t.Errorf("baggage tenant = %q, want %q", s.member, wantMember)
			}
		})
	}
}

// A consumer that dies mid-handler, and then the NATS server too, must not
// lose the event: after both come back, the event is delivered again.
func TestUnackedEventSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natsservertest.StartInDir(t, dir)
	b := connectBus(t, srv.ClientURL())
	if err := b.EnsureStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := uploadCompleted("u1")
	if err := b.Publish(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	opts := events.SubscribeOptions{AckWait: time.Second}

	started := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	sub, err := events.Subscribe(ctx, b, "restart", func(ctx context.Context, _ *eventsv1.UploadCompleted) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, started, "the first delivery")
	// The crash: the connection goes before the handler finishes, so
	// nothing, not even a nak, reaches the server.
	b.Close()
	cancel()
	sub.Stop()
	srv.Shutdown()

	srv2 := natsservertest.StartInDir(t, dir)
	b2 := connectBus(t, srv2.ClientURL())
	if err := b2.EnsureStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	type delivery struct {
		event *eventsv1.UploadCompleted
		n     uint64
	}
	got := make(chan delivery, 1)
	sub2 := subscribe(t, b2, "restart", func(ctx context.Context, ev *eventsv1.UploadCompleted) error {
		d, _ := events.DeliveryFromContext(ctx)
		got <- delivery{ev, d.NumDelivered}
		return nil
	}, opts)
	d := receive(t, got, "the redelivery after restart")
	assertProtoEqual(t, d.event, want)
	if d.n != 2 {
		t.Errorf("NumDelivered = %d, want 2", d.n)
	}
	sub2.Stop()
	if info := consumerInfo(t, b2, "MEDIA", "restart"); info.NumAckPending != 0 {
		t.Errorf("ack pending %d after the redelivery was handled, want 0", info.NumAckPending)
	}
}

// A NATS restart the client rides out (same address, reconnect) must not
// end a subscription.
func TestSubscriptionSurvivesReconnect(t *testing.T) {
	dir := t.TempDir()
	srv := natsservertest.StartInDir(t, dir)
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	b := connectBus(t, srv.ClientURL())
	if err := b.EnsureStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := make(chan *eventsv1.UploadCompleted, 2)
	sub := subscribe(t, b, "reconnect", func(_ context.Context, ev *eventsv1.UploadCompleted) error {
		got <- ev
		return nil
	}, events.SubscribeOptions{})
	if err := b.Publish(t.Context(), uploadCompleted("before")); err != nil {
		t.Fatal(err)
	}
	assertProtoEqual(t, receive(t, got, "the event before the restart"), uploadCompleted("before"))
	// Let the ack land first, or the restarted server would rightly
	// redeliver "before".
	poll.Until(t, waitTimeout, "the ack of the first event", func() bool {
		return consumerInfo(t, b, "MEDIA", "reconnect").AckFloor.Stream == 1
	})

	reconnected := b.JetStream().Conn().StatusChanged(nats.RECONNECTING, nats.CONNECTED)
	srv.Shutdown()
	natsservertest.StartConfig(t, natsserver.Config{Dir: dir, Port: port})
	for status := range reconnected {
		if status == nats.CONNECTED {
			break
		}
	}

	if err := b.Publish(t.Context(), uploadCompleted("after")); err != nil {
		t.Fatalf("Publish after reconnect: %v", err)
	}
	assertProtoEqual(t, receive(t, got, "the event after the restart"), uploadCompleted("after"))
	sub.Stop() // before the server's cleanup, so the ack gets through
	if info := consumerInfo(t, b, "MEDIA", "reconnect"); info.NumAckPending != 0 || info.AckFloor.Stream != 2 {
		t.Errorf("ack pending %d, ack floor %d; want 0, 2", info.NumAckPending, info.AckFloor.Stream)
	}
}

// A handler that outlives AckWait is kept alive with in-progress acks, so
// the event is not handed to a second handler meanwhile.
func TestLongHandlerIsNotRedelivered(t *testing.T) {
	_, b := startBus(t)
	const ackWait = 600 * time.Millisecond
	var calls atomic.Int32
	done := make(chan struct{})
	sub := subscribe(t, b, "long", func(ctx context.Context, _ *eventsv1.UploadCompleted) error {
		calls.Add(1)
		select {
		case <-time.After(3 * ackWait): // the work itself takes this long
		case <-ctx.Done():
			return ctx.Err()
		}
		close(done)
		return nil
	}, events.SubscribeOptions{AckWait: ackWait, Concurrency: 2}) // a free slot would take a redelivery
	if err := b.Publish(t.Context(), uploadCompleted("u1")); err != nil {
		t.Fatal(err)
	}
	receive(t, done, "the long handler")
	sub.Stop()
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
	if info := consumerInfo(t, b, "MEDIA", "long"); info.NumRedelivered != 0 || info.NumAckPending != 0 {
		t.Errorf("redelivered %d, ack pending %d; want 0, 0", info.NumRedelivered, info.NumAckPending)
	}
}

// With Concurrency n, n handlers run at once, and no more messages than that
// are taken from the server: a buffered message would be ageing towards its
// AckWait without anyone working on it.
func TestConcurrencyBoundsInFlight(t *testing.T) {
	_, b := startBus(t)
	const concurrency, total = 3, 5
	release := make(chan struct{})
	running := make(chan struct{}, total)
	var handled atomic.Int32
	sub := subscribe(t, b, "parallel", func(ctx context.Context, _ *eventsv1.SegmentReady) error {
		running <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		handled.Add(1)
		return nil
	}, events.SubscribeOptions{Concurrency: concurrency})
	for i := range total {
		if err := b.Publish(t.Context(), segmentReady(uint32(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	for range concurrency {
		receive(t, running, "a handler to start")
	}
	// Delivered counts what the server handed out; NumPending would lag
	// behind the publishes under load.
	info := consumerInfo(t, b, "MEDIA", "parallel")
	if info.Delivered.Consumer != concurrency || info.NumAckPending != concurrency {
		t.Errorf("with %d handlers blocked: delivered %d, ack pending %d; want %d, %d",
			concurrency, info.Delivered.Consumer, info.NumAckPending, concurrency, concurrency)
	}
	close(release)
	for range total - concurrency {
		receive(t, running, "a handler to start")
	}
	sub.Stop()
	if n := handled.Load(); n != total {
		t.Errorf("handled %d events, want %d", n, total)
	}
}

func TestSubscribeErrors(t *testing.T) {
	srv := natsservertest.Start(t)
	b := connectBus(t, srv.ClientURL()) // no EnsureStreams
	noop := func(context.Context, *eventsv1.UploadCompleted) error { return nil }
	if _, err := events.Subscribe(t.Context(), b, "x", noop, events.SubscribeOptions{}); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("Subscribe without streams: error = %v, want %v", err, jetstream.ErrStreamNotFound)
	}
	if _, err := events.Subscribe(t.Context(), b, "bad.name", noop, events.SubscribeOptions{}); err == nil {
		t.Error("Subscribe with durable \"bad.name\": no error")
	}
	part := func(context.Context, *eventsv1.RenditionProgress) error { return nil }
	if _, err := events.Subscribe(t.Context(), b, "x", part, events.SubscribeOptions{}); !errors.Is(err, events.ErrInvalidEvent) {
		t.Errorf("Subscribe to a non-event: error = %v, want %v", err, events.ErrInvalidEvent)
	}
}
