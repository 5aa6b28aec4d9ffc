package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/natsserver"
)

func ExampleSubscribe() {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "events-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	srv, err := natsserver.Start(ctx, natsserver.Config{Dir: dir}, logger)
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()

	bus, err := events.Connect(ctx, srv.ClientURL(), logger)
	if err != nil {
		panic(err)
	}
	defer bus.Close()
	if err := bus.EnsureStreams(ctx); err != nil {
		panic(err)
	}
	handled := make(chan string, 1)
	sub, err := events.Subscribe(ctx, bus, "metadata", func(ctx context.Context, ev *eventsv1.UploadCompleted) error {
		// Handlers are idempotent: a redelivery (a lost ack) must change nothing.
		if ev.GetVideoId() == "" {
			return events.Permanent(fmt.Errorf("upload %s has no video", ev.GetUploadId()))
		}
		handled <- ev.GetVideoId()
		return nil
	}, events.SubscribeOptions{})
	if err != nil {
		panic(err)
	}
	defer sub.Stop()

	err = bus.Publish(ctx, &eventsv1.UploadCompleted{
		EventId:  "upload.completed:u1",
		UploadId: "u1",
		VideoId:  "v1",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("video", <-handled, "is ready to transcode")
	// Output: video v1 is ready to transcode
}
