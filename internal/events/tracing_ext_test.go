package events_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/logship"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

// TestConsumerSpan: with a tracer provider, the handler runs inside a
// consumer span that continues the publisher's trace, and a failed attempt
// marks its span as an error.
func TestConsumerSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, b := startBus(t, events.WithTracerProvider(tp))

	type seen struct {
		sc      trace.SpanContext
		attempt uint64
	}
	got := make(chan seen, 2)
	subscribe(t, b, "traced", func(ctx context.Context, _ *eventsv1.UploadCompleted) error {
		d, _ := events.DeliveryFromContext(ctx)
		got <- seen{trace.SpanContextFromContext(ctx), d.NumDelivered}
		if d.NumDelivered == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	}, events.SubscribeOptions{Backoff: []time.Duration{10 * time.Millisecond}})

	ctx, pub := tp.Tracer("test").Start(t.Context(), "publish")
	err := b.Publish(ctx, uploadCompleted("t1"))
	pub.End()
	if err != nil {
		t.Fatal(err)
	}
	first, second := receive(t, got, "the first attempt"), receive(t, got, "the retry")
	want := pub.SpanContext()
	for _, s := range []seen{first, second} {
		if s.sc.TraceID() != want.TraceID() || s.sc.IsRemote() || s.sc.SpanID() == want.SpanID() {
			t.Errorf("attempt %d: handler span %s/%s (remote %v), want a local child in trace %s",
				s.attempt, s.sc.TraceID(), s.sc.SpanID(), s.sc.IsRemote(), want.TraceID())
		}
	}
	// The retry's span ends once its handler has returned.
	poll.Until(t, waitTimeout, "2 consumer spans ended", func() bool { return consumerSpans(rec) >= 2 })
	for _, sp := range rec.Ended() {
		if sp.SpanKind() != trace.SpanKindConsumer {
			continue
		}
		if sp.Name() != "upload.completed process" || sp.Parent().SpanID() != want.SpanID() || !sp.Parent().IsRemote() {
			t.Errorf("consumer span %q parent %s (remote %v), want %q under %s", sp.Name(), sp.Parent().SpanID(), sp.Parent().IsRemote(), "upload.completed process", want.SpanID())
		}
		wantStatus := codes.Unset
		if sp.SpanContext().SpanID() == first.sc.SpanID() {
			wantStatus = codes.Error
		}
		if sp.Status().Code != wantStatus {
			t.Errorf("consumer span %s status %v, want %v", sp.SpanContext().SpanID(), sp.Status().Code, wantStatus)
		}
	}
}

func consumerSpans(rec *tracetest.SpanRecorder) int {
	n := 0
	for _, sp := range rec.Ended() {
		if sp.SpanKind() == trace.SpanKindConsumer {
			n++
		}
	}
	return n
}

// TestShippedLogCarriesTheTrace: a consumer that logs through the log
// shipper (as every instance does) ships a record whose trace id is the
// publisher's, so GetLogs links it to the trace of the RPC that published.
func TestShippedLogCarriesTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, b := startBus(t, events.WithTracerProvider(tp))
	shipper, err := logship.New(logship.Config{Service: "metadata", InstanceID: "metadata-1"}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	shipDone := make(chan error, 1)
	go func() { shipDone <- shipper.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-shipDone })
	logger := slog.New(shipper.Handler(slog.DiscardHandler))

	subscribe(t, b, "consumer", func(ctx context.Context, ev *eventsv1.UploadCompleted) error {
		logger.WarnContext(ctx, "handling upload", "upload_id", ev.GetUploadId())
		return nil
	}, events.SubscribeOptions{})
	logs := make(chan *eventsv1.LogRecord, 4)
	subscribe(t, b, "log-reader", func(_ context.Context, r *eventsv1.LogRecord) error {
		logs <- r
		return nil
	}, events.SubscribeOptions{})

	ctx, pub := tp.Tracer("test").Start(t.Context(), "rpc")
	err = b.Publish(ctx, uploadCompleted("t2"))
	pub.End()
	if err != nil {
		t.Fatal(err)
	}
	r := receive(t, logs, "the shipped log record")
	if r.GetMessage() != "handling upload" || r.GetTraceId() != pub.SpanContext().TraceID().String() {
		t.Errorf("log record %q trace %s, want %q in trace %s", r.GetMessage(), r.GetTraceId(), "handling upload", pub.SpanContext().TraceID())
	}
}
