package transcoder

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/streamgate/streamgate/internal/transcode"
)

// queueReadTimeout bounds one collection's read of the queue index (and
// of the queued jobs, to check it).
const queueReadTimeout = 5 * time.Second

// metrics are the transcoder's domain instruments, recorded from
// Config.MeterProvider. The queue gauges describe the shared queue, so every
// instance reports the same figures: aggregate them with max, not sum.
type metrics struct {
	finishedJobs metric.Int64Counter
	speed        metric.Float64Histogram
	reg          metric.Registration
}

func newMetrics(s *Service, mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/streamgate/streamgate/services/transcoder")
	var m metrics
	var err error
	if m.finishedJobs, err = meter.Int64Counter("streamgate.transcode.jobs.finished",
		metric.WithDescription("Jobs that reached a final state on this instance, by state (succeeded, failed, canceled)."),
		metric.WithUnit("{job}")); err != nil {
		return nil, err
	}
	if m.speed, err = meter.Float64Histogram("streamgate.transcode.speed",
		metric.WithDescription("Encode speed of succeeded jobs: media duration over wall-clock time (1 = real time)."),
		metric.WithUnit("1"),
		metric.WithExplicitBucketBoundaries(0.25, 0.5, 1, 2, 3, 5, 10, 20)); err != nil {
		return nil, err
	}
	depth, err := meter.Int64ObservableGauge("streamgate.transcode.queue.depth",
		metric.WithDescription("QUEUED jobs in the shared queue."), metric.WithUnit("{job}"))
	if err != nil {
		return nil, err
	}
	age, err := meter.Float64ObservableGauge("streamgate.transcode.queue.oldest_age",
		metric.WithDescription("How long the oldest QUEUED job has waited; 0 when the queue is empty."), metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	busy, err := meter.Int64ObservableGauge("streamgate.transcode.workers.busy",
		metric.WithDescription("Workers of this instance running a job."), metric.WithUnit("{worker}"))
	if err != nil {
		return nil, err
	}
	m.reg, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ls := s.localStats()
		o.ObserveInt64(busy, int64(ls.WorkersBusy))
		s.setupMu.Lock()
		st := s.st
		s.setupMu.Unlock()
		if st == nil {
			return nil // Run has not reached the bucket yet: nothing known
		}
		ctx, cancel := context.WithTimeout(ctx, queueReadTimeout)
		defer cancel()
		queue, err := st.repairQueue(ctx)
		if err != nil {
			return err
		}
		n := int64(len(queue))
		var oldest time.Duration
		if n > 0 {
			oldest = max(0, time.Since(queue[0].created))
		}
		o.ObserveInt64(depth, n)
		o.ObserveFloat64(age, oldest.Seconds())
		return nil
	}, depth, age, busy)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// finished counts a job that reached a final state and, for a success, its
// encode speed.
func (m *metrics) finished(ctx context.Context, j *Job, res *transcode.Result) {
	var state string
	switch j.State {
	case StateSucceeded:
		state = "succeeded"
	case StateFailed:
		state = "failed"
	case StateCanceled:
		state = "canceled"
	default:
		return
	}
	m.finishedJobs.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("state", state))))
	if j.State == StateSucceeded && res != nil && res.Elapsed > 0 && res.Duration > 0 {
		m.speed.Record(ctx, res.Duration.Seconds()/res.Elapsed.Seconds())
	}
}
