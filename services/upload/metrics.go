package upload

import (
	"context"
	"io"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics are upload's domain instruments, recorded from the
// Config.MeterProvider.
type metrics struct {
	bytes    metric.Int64Counter
	finished metric.Int64Counter
}

// Outcomes of streamgate.upload.finished.
var (
	outcomeCompleted = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "completed")))
	outcomeFailed    = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", "failed")))
)

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/streamgate/streamgate/services/upload")
	var m metrics
	var err error
	if m.bytes, err = meter.Int64Counter("streamgate.upload.bytes",
		metric.WithDescription("Bytes received in tus PATCH bodies."), metric.WithUnit("By")); err != nil {
		return nil, err
	}
	if m.finished, err = meter.Int64Counter("streamgate.upload.finished",
		metric.WithDescription("Uploads that ended validation, by outcome (completed, failed)."), metric.WithUnit("{upload}")); err != nil {
		return nil, err
	}
	return &m, nil
}

// countBody counts the bytes read from a PATCH body as they arrive, so a
// broken connection still counts what it delivered.
func (m *metrics) countBody(body io.ReadCloser) io.ReadCloser {
	return &countingBody{ReadCloser: body, m: m}
}

func (m *metrics) completed(ctx context.Context) { m.finished.Add(ctx, 1, outcomeCompleted) }
func (m *metrics) failed(ctx context.Context)    { m.finished.Add(ctx, 1, outcomeFailed) }

type countingBody struct {
	io.ReadCloser
	m *metrics
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.m.bytes.Add(context.Background(), int64(n))
	}
	return n, err
}
