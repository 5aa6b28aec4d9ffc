package events

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the tracer of consumer spans.
const instrumentationName = "github.com/streamgate/streamgate/internal/events"

// WithTracerProvider has every handler run inside a consumer span from tp
// ("<subject> process", a child of the publisher's span carried in the
// message headers), so a trace shows the event's handling and the handler's
// own spans and logs hang under it. Without it the handler's ctx carries the
// publisher's span context only.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// startConsumerSpan starts the span of one delivery when the Bus has a
// tracer; end records the handler's outcome. ctx already carries the
// extracted remote parent.
func (b *Bus) startConsumerSpan(ctx context.Context, d Delivery, eventID string) (_ context.Context, end func(error)) {
	if b.tracer == nil {
		return ctx, func(error) {}
	}
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", d.Subject),
		attribute.String("messaging.consumer.group.name", d.Consumer),
		attribute.Int64("messaging.nats.stream_sequence", int64(d.StreamSeq)),
		attribute.Int64("messaging.nats.delivery_count", int64(d.NumDelivered)),
	}
	if eventID != "" {
		attrs = append(attrs, attribute.String("messaging.message.id", eventID))
	}
	ctx, span := b.tracer.Start(ctx, d.Subject+" process",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
