package cache

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metricsTimeout bounds one collection's backend read (a Redis round trip
// per namespace).
const metricsTimeout = 5 * time.Second

// metrics exports the per-namespace counters of GetStats as observable
// instruments, read from the backend at each collection.
type metrics struct {
	reg metric.Registration
}

func newMetrics(s *Service, mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/streamgate/streamgate/services/cache")
	hits, err := meter.Int64ObservableCounter("streamgate.cache.hits",
		metric.WithDescription("Keys read and found, per namespace."), metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	misses, err := meter.Int64ObservableCounter("streamgate.cache.misses",
		metric.WithDescription("Keys read and not found (absent or expired), per namespace."), metric.WithUnit("{key}"))
	if err != nil {
		return nil, err
	}
	evictions, err := meter.Int64ObservableCounter("streamgate.cache.evictions",
		metric.WithDescription("Entries the backend removed before their expiry to make room, per namespace."), metric.WithUnit("{entry}"))
	if err != nil {
		return nil, err
	}
	entries, err := meter.Int64ObservableGauge("streamgate.cache.entries",
		metric.WithDescription("Live entries, per namespace."), metric.WithUnit("{entry}"))
	if err != nil {
		return nil, err
	}
	size, err := meter.Int64ObservableGauge("streamgate.cache.size",
		metric.WithDescription("Bytes held (key + value + content type), per namespace."), metric.WithUnit("By"))
	if err != nil {
		return nil, err
	}
	limit, err := meter.Int64ObservableGauge("streamgate.cache.limit",
		metric.WithDescription("Size limit, per namespace."), metric.WithUnit("By"))
	if err != nil {
		return nil, err
	}
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
		defer cancel()
		st, err := s.Stats(ctx, "")
		if err != nil {
			return err
		}
		for _, n := range st.Namespaces {
			attrs := metric.WithAttributeSet(attribute.NewSet(
				attribute.String("cache.backend", st.Backend),
				attribute.String("cache.namespace", n.Namespace),
			))
			o.ObserveInt64(hits, clampInt64(n.Hits), attrs)
			o.ObserveInt64(misses, clampInt64(n.Misses), attrs)
			o.ObserveInt64(evictions, clampInt64(n.Evictions), attrs)
			o.ObserveInt64(entries, clampInt64(n.Entries), attrs)
			o.ObserveInt64(size, clampInt64(n.Bytes), attrs)
			o.ObserveInt64(limit, clampInt64(n.LimitBytes), attrs)
		}
		return nil
	}, hits, misses, evictions, entries, size, limit)
	if err != nil {
		return nil, err
	}
	return &metrics{reg: reg}, nil
}

func (m *metrics) close() error { return m.reg.Unregister() }

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
