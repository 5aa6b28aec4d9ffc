package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/services/gateway"
	"github.com/streamgate/streamgate/services/gateway/edge"
)

// TestRunStopsLoops: Run runs the background loops until ctx is done, and
// one loop failing stops the others and is returned.
func TestRunStopsLoops(t *testing.T) {
	failed := errors.New("loop failed")
	stopped := make(chan struct{})
	waiter := func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil }
	failer := func(context.Context) error { return failed }
	e, err := edge.New(edge.Config{}, noMesh{}, catalog.Default(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := gateway.New(testConfig(), e, catalog.Default(), instances{}, slog.New(slog.DiscardHandler),
		gateway.WithBackground(waiter), gateway.WithBackground(failer))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(t.Context()); !errors.Is(err, failed) {
		t.Errorf("Run = %v, want %v", err, failed)
	}
	<-stopped
}
