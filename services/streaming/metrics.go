package streaming

import (
	"context"
	"errors"
	"io"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics are streaming's domain instruments, recorded from
// Config.MeterProvider.
type metrics struct {
	served   metric.Int64Counter
	refused  metric.Int64Counter
	cache    metric.Int64Counter
	licences metric.Int64Counter
}

// Label sets, built once: they are on the per-read path.
var (
	kindManifest   = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "manifest")))
	kindSegment    = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "segment")))
	refusedNoToken = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "no_token")))
	refusedDenied  = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "denied")))
	refusedExpired = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "expired")))
	refusedOrigin  = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "origin")))
	refusedPreview = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "preview_ended")))
	cacheHitAttr   = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "hit")))
	cacheMissAttr  = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "miss")))
	cacheBypassed  = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "bypass")))
)

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/streamgate/streamgate/services/streaming")
	var m metrics
	var err error
	if m.served, err = meter.Int64Counter("streamgate.streaming.served",
		metric.WithDescription("Body bytes delivered to players (HTTP and StreamSegments), by kind (manifest, segment)."),
		metric.WithUnit("By")); err != nil {
		return nil, err
	}
	if m.refused, err = meter.Int64Counter("streamgate.streaming.refusals",
		metric.WithDescription("Playback refused for a gated video, by reason (no_token, denied, expired)."),
		metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	if m.cache, err = meter.Int64Counter("streamgate.streaming.segment_cache",
		metric.WithDescription("Segment requests through the local segment cache (S3 store), by result: hit, miss (read from the store into the cache), bypass (too large to cache)."),
		metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	if m.licences, err = meter.Int64Counter("streamgate.streaming.licences",
		metric.WithDescription("ClearKey licence requests, by outcome: released_<grant> (public, creator, holder, preview), pass_needed, policy, no_keys, bad_request, unavailable, no_key_server."),
		metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	return &m, nil
}

// licence counts a licence request by outcome (a small fixed set).
func (m *metrics) licence(ctx context.Context, outcome string) {
	m.licences.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (m *metrics) cacheLookup(ctx context.Context, r cacheResult) {
	if r == cacheHit {
		m.cache.Add(ctx, 1, cacheHitAttr)
	} else {
		m.cache.Add(ctx, 1, cacheMissAttr)
	}
}

func (m *metrics) cacheBypass(ctx context.Context) { m.cache.Add(ctx, 1, cacheBypassed) }

// refusal counts err if it is a refusal of playback; other errors (not
// found, unavailable) are not the player's lack of access.
func (m *metrics) refusal(ctx context.Context, err error) {
	switch {
	case errors.Is(err, errNoToken):
		m.refused.Add(ctx, 1, refusedNoToken)
	case errors.Is(err, errDenied):
		m.refused.Add(ctx, 1, refusedDenied)
	case errors.Is(err, errExpired):
		m.refused.Add(ctx, 1, refusedExpired)
	case errors.Is(err, errOrigin):
		m.refused.Add(ctx, 1, refusedOrigin)
	case errors.Is(err, errPreviewEnded):
		m.refused.Add(ctx, 1, refusedPreview)
	}
}

func (m *metrics) segmentBytes(ctx context.Context, n int) {
	if n > 0 {
		m.served.Add(ctx, int64(n), kindSegment)
	}
}

// countWriter counts the body bytes written to w. It keeps w's ReadFrom, so
// http.ServeContent still uses sendfile for local files.
func (m *metrics) countWriter(w http.ResponseWriter, manifest bool) http.ResponseWriter {
	kind := kindSegment
	if manifest {
		kind = kindManifest
	}
	return &countingWriter{ResponseWriter: w, m: m, kind: kind}
}

type countingWriter struct {
	http.ResponseWriter
	m    *metrics
	kind metric.AddOption
}

func (c *countingWriter) add(n int64) {
	if n > 0 {
		c.m.served.Add(context.Background(), n, c.kind)
	}
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.add(int64(n))
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{c.ResponseWriter}, r)
	}
	c.add(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// writerOnly hides any ReadFrom so io.Copy does not loop back.
type writerOnly struct{ io.Writer }
