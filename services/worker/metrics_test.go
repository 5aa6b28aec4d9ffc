package worker

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/streamgate/streamgate/internal/telemetry/telemetrytest"
)

// TestMetricsJobsByState reads the instance's /metrics as a job goes DEAD
// and is revived: the dead gauge goes 1 then back to 0.
func TestMetricsJobsByState(t *testing.T) {
	tel := telemetrytest.New(t, "worker")
	s, err := New(testConfig(), connectBus(t, startNATS(t)), nil, slog.New(slog.DiscardHandler), WithMeterProvider(tel.MeterProvider))
	if err != nil {
		t.Fatal(err)
	}
	fail := make(chan bool, 1)
	fail <- true
	if err := s.Register("test.once", func(context.Context, Job) error {
		if <-fail {
			fail <- false
			return Permanent(errors.New("bad"))
		}
		fail <- false
		return nil
	}, KindOptions{}); err != nil {
		t.Fatal(err)
	}
	gauge := func(state string) (float64, bool) {
		return telemetrytest.Value(telemetrytest.Families(t, tel.MetricsHandler()), "streamgate_worker_jobs", "state", state)
	}
	run(t, s)
	j := submit(t, s, SubmitParams{Kind: "test.once"})
	waitState(t, s, j.ID, StateDead)
	if n, ok := gauge("dead"); !ok || n != 1 {
		t.Fatalf("dead jobs = %v (present %v), want 1", n, ok)
	}
	if _, err := s.jobs.retry(t.Context(), j.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, j.ID, StateSucceeded)
	for state, want := range map[string]float64{"dead": 0, "succeeded": 1, "queued": 0} {
		if n, ok := gauge(state); !ok || n != want {
			t.Errorf("%s jobs = %v (present %v), want %v", state, n, ok, want)
		}
	}
}
