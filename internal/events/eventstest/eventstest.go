// Package eventstest gives tests a real event bus: an embedded NATS
// JetStream server with the streams created, and a subscriber that hands
// each event to the test.
package eventstest

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/natsserver"
	"github.com/streamgate/streamgate/internal/natsserver/natsservertest"
)

// Bus starts an embedded NATS server and returns it with a connected bus
// whose streams exist. Both stop at the end of the test.
func Bus(t testing.TB, opts ...events.Option) (*natsserver.Server, *events.Bus) {
	t.Helper()
	srv := natsservertest.Start(t)
	bus, err := events.Connect(t.Context(), srv.ClientURL(), slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("events.Connect: %v", err)
	}
	t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(t.Context()); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	return srv, bus
}

// Collect subscribes durable to the events of type T and sends each one on
// the returned channel (buffered; a test that lets more than 64 pile up
// stalls the subscription, not the publisher).
func Collect[T proto.Message](t testing.TB, bus *events.Bus, durable string) <-chan T {
	t.Helper()
	got := make(chan T, 64)
	sub, err := events.Subscribe(t.Context(), bus, durable, func(_ context.Context, e T) error {
		got <- e
		return nil
	}, events.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe %s: %v", durable, err)
	}
	t.Cleanup(sub.Stop)
	return got
}
