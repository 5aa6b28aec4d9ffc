package transcoder_test

import (
	"context"
	"log/slog"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/streamgate/streamgate/internal/telemetry/telemetrytest"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/transcoder"
)

// TestMetrics scrapes an instance's /metrics while a job waits behind a
// running one (queue depth and age), then after one job was canceled and
// the other succeeded.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	tel := telemetrytest.New(t, "transcoder")
	cfg := testConfig(e.work, "inst-m") // one worker
	cfg.MeterProvider = tel.MeterProvider
	svc, err := transcoder.New(cfg, e.bus, e.blobs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	scrape := func() map[string]*dto.MetricFamily { return telemetrytest.Families(t, tel.MetricsHandler()) }
	e.upload(t, 1, clip(t, 40))
	long := jobOf(t, svc, "vid_1")
	poll.Until(t, waitTimeout, "the long job to run", func() bool {
		j, err := svc.GetJob(t.Context(), owner, long.ID)
		return err == nil && j.State == transcoder.StateRunning
	})
	e.upload(t, 2, clip(t, 2))
	jobOf(t, svc, "vid_2")
	poll.Until(t, waitTimeout, "queue depth 1 with a positive age, one worker busy", func() bool {
		f := scrape()
		depth, _ := telemetrytest.Value(f, "streamgate_transcode_queue_depth")
		age, _ := telemetrytest.Value(f, "streamgate_transcode_queue_oldest_age_seconds")
		busy, _ := telemetrytest.Value(f, "streamgate_transcode_workers_busy")
		return depth == 1 && age > 0 && busy == 1
	})
	if _, err := svc.CancelJob(t.Context(), owner, long.ID); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, waitTimeout, "the short job to succeed", func() bool {
		n, _ := telemetrytest.Value(scrape(), "streamgate_transcode_jobs_finished_total", "state", "succeeded")
		return n == 1
	})
	f := scrape()
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"streamgate_transcode_jobs_finished_total", []string{"state", "canceled"}, 1},
		{"streamgate_transcode_jobs_finished_total", []string{"state", "failed"}, 0},
		{"streamgate_transcode_speed", nil, 1}, // one histogram sample
		{"streamgate_transcode_queue_depth", nil, 0},
		{"streamgate_transcode_queue_oldest_age_seconds", nil, 0},
	} {
		got, _ := telemetrytest.Value(f, tt.name, tt.labels...)
		if got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if fam := f["streamgate_transcode_speed"]; fam == nil || fam.GetMetric()[0].GetHistogram().GetSampleSum() <= 0 {
		t.Errorf("speed histogram: %v", fam)
	}
}
