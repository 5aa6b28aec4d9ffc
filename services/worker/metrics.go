package worker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// jobsScanTimeout bounds one collection's scan of the job bucket.
const jobsScanTimeout = 5 * time.Second

// WithMeterProvider exports the jobs by state (streamgate.worker.jobs)
// through mp, read from the job bucket at each collection. Without it,
// nothing is recorded.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *Service) { s.metrics = &metrics{mp: mp} }
}

// metrics holds the worker's instrument registration.
type metrics struct {
	mp  metric.MeterProvider
	reg metric.Registration
}

// gaugeStates are the states reported, zero included, so that "DEAD jobs
// above 0" sees the figure drop back to 0.
var gaugeStates = []State{StateScheduled, StateQueued, StateRunning, StateRetrying, StateSucceeded, StateDead, StateCanceled}

// register sets up the instruments; a nil m (no WithMeterProvider) does
// nothing. The gauge describes the shared bucket, so every replica reports
// the same figures: aggregate them with max, not sum.
func (m *metrics) register(s *Service) error {
	if m == nil || m.mp == nil {
		return nil
	}
	meter := m.mp.Meter("github.com/streamgate/streamgate/services/worker")
	jobs, err := meter.Int64ObservableGauge("streamgate.worker.jobs",
		metric.WithDescription("Jobs in the job bucket by state (finished jobs stay until JobRetention)."),
		metric.WithUnit("{job}"))
	if err != nil {
		return err
	}
	attrs := make(map[State]metric.ObserveOption, len(gaugeStates))
	for _, st := range gaugeStates {
		attrs[st] = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", strings.ToLower(stateName(st)))))
	}
	m.reg, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s.setupMu.Lock()
		ready, kv := s.ready, s.jobs.kv
		s.setupMu.Unlock()
		if !ready {
			return nil // the bucket is not known yet
		}
		ctx, cancel := context.WithTimeout(ctx, jobsScanTimeout)
		defer cancel()
		counts, err := countJobs(ctx, s.jobs, kv)
		if err != nil {
			return err
		}
		for _, st := range gaugeStates {
			o.ObserveInt64(jobs, counts[st], attrs[st])
		}
		return nil
	}, jobs)
	return err
}

// countJobs counts the jobs of the bucket by state.
func countJobs(ctx context.Context, js *jobStore, kv jetstream.KeyValue) (map[State]int64, error) {
	counts := make(map[State]int64, len(gaugeStates))
	lister, err := kv.ListKeysFiltered(ctx, "job.>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return counts, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, strings.TrimPrefix(k, "job."))
	}
	for _, id := range ids {
		j, _, err := js.get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // swept meanwhile
		}
		if err != nil {
			return nil, err
		}
		counts[j.State]++
	}
	return counts, nil
}
