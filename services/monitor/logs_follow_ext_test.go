package monitor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/monitor"
)

// Every monitor instance fills its own ring with every record, and a
// stopped instance leaves no consumer on the LOGS stream: restarts used to
// leave one durable each.
func TestLogFollowersLeaveNoConsumers(t *testing.T) {
	logger := testLogger(t)
	_, bus := eventstest.Bus(t)
	logs, err := bus.JetStream().Stream(t.Context(), "LOGS")
	if err != nil {
		t.Fatal(err)
	}
	consumers := func() int {
		info, err := logs.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Consumers
	}
	if err := bus.Publish(t.Context(), &eventsv1.LogRecord{
		EventId: "log-1", OccurTime: timestamppb.Now(), Service: "upload", Level: eventsv1.LogLevel_LOG_LEVEL_WARN, Message: "disk almost full",
	}); err != nil {
		t.Fatal(err)
	}

	for round := range 3 {
		// Two instances at once, as in a cluster.
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan error, 2)
		var svcs []*monitor.Service
		for range 2 {
			svc, err := monitor.New(monitor.Config{}, noInstances{}, noProbe, logger, monitor.WithBus(bus))
			if err != nil {
				t.Fatal(err)
			}
			svcs = append(svcs, svc)
			go func() { done <- svc.Run(ctx) }()
		}
		for i, svc := range svcs {
			poll.Until(t, 10*time.Second, fmt.Sprintf("round %d: instance %d holds the record", round, i), func() bool {
				page, err := svc.Logs().Query(monitor.LogQuery{})
				return err == nil && len(page.Records) == 1
			})
		}
		if n := consumers(); n != 2 {
			t.Errorf("round %d: %d consumers on LOGS while two monitors run, want 2", round, n)
		}
		stop()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
		poll.Until(t, 10*time.Second, fmt.Sprintf("round %d: no consumers left on LOGS", round), func() bool { return consumers() == 0 })
	}
}
