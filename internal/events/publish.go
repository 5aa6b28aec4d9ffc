package events

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// EventTypeHeader carries the full protobuf name of the payload, so a
// consumer can refuse a payload of the wrong type instead of misreading it.
const EventTypeHeader = "Streamgate-Event-Type"

// eventIDField is the field every event message carries as its stable id.
const eventIDField protoreflect.Name = "event_id"

// EventID returns msg's event_id, or an ErrInvalidEvent error when the
// message has no such string field or it is empty.
func EventID(msg proto.Message) (string, error) {
	m := msg.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(eventIDField)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return "", fmt.Errorf("%w: %s has no string field %s", ErrInvalidEvent, m.Descriptor().FullName(), eventIDField)
	}
	id := m.Get(fd).String()
	if id == "" {
		return "", fmt.Errorf("%w: %s.%s is empty", ErrInvalidEvent, m.Descriptor().FullName(), eventIDField)
	}
	return id, nil
}

// Publish stores msg in its stream and returns once JetStream has
// acknowledged it. The event_id becomes Nats-Msg-Id, so publishing the same
// event again within the stream's duplicate window stores nothing and still
// succeeds: producers may simply retry. The trace context of ctx travels in
// the headers.
func (b *Bus) Publish(ctx context.Context, msg proto.Message) error {
	md := msg.ProtoReflect().Descriptor()
	subject, _, err := route(md)
	if err != nil {
		return err
	}
	id, err := EventID(msg)
	if err != nil {
		return err
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("events: marshal %s: %w", md.FullName(), err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Header.Set(EventTypeHeader, string(md.FullName()))
	b.propagator.Inject(ctx, headerCarrier(m.Header))

	ack, err := b.js.PublishMsg(ctx, m)
	if err != nil {
		return fmt.Errorf("events: publish %s %s: %w", subject, id, err)
	}
	if ack.Duplicate {
		b.logger.DebugContext(ctx, "event already published", "subject", subject, "event_id", id, "stream", ack.Stream, "seq", ack.Sequence)
	}
	return nil
}

// headerCarrier adapts nats.Header, whose keys are case-sensitive, to the
// otel TextMapCarrier. Get falls back to a case-insensitive match because
// publishers in other languages may spell "traceparent" differently.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[key] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
