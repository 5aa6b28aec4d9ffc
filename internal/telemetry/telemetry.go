// Package telemetry builds the OpenTelemetry providers the StreamGate binary
// hands to its server runtime and clients. It owns the SDK providers so that
// one Shutdown flushes them; nothing here touches the otel globals, so tests
// and several servers in one process never share state by accident.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Config names the process in every span and metric it exports.
type Config struct {
	// ServiceName is service.name, e.g. "streamgate". Required.
	ServiceName string
	// InstanceID is service.instance.id, unique per running process (the
	// registration id, a pod name). Empty: the attribute is left out.
	InstanceID string
	// Version is service.version, usually buildinfo.Read().Version. Empty:
	// the attribute is left out.
	Version string
	// OTLPEndpoint turns on trace export over OTLP/HTTP (protobuf) to a
	// collector, e.g. "http://127.0.0.1:4318": spans are batched and POSTed
	// to <endpoint>/v1/traces (a URL with another path is used as is;
	// https is verified with the system roots). Empty: no export, spans
	// still propagate.
	OTLPEndpoint string
}

// otlpTracesPath is where an OTLP/HTTP receiver takes traces.
const otlpTracesPath = "/v1/traces"

// otlpURL validates OTLPEndpoint and returns the traces URL.
func otlpURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("telemetry: OTLPEndpoint %q: want an http(s) URL such as http://127.0.0.1:4318", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = otlpTracesPath
	}
	return u.String(), nil
}

// Option adjusts what New builds.
type Option func(*options)

type options struct {
	spanProcessors []sdktrace.SpanProcessor
	metricReaders  []sdkmetric.Reader
}

// WithSpanProcessor registers a span processor on the TracerProvider, next
// to the OTLP exporter when one is configured. Tests pass an in-memory
// recorder.
func WithSpanProcessor(sp sdktrace.SpanProcessor) Option {
	return func(o *options) { o.spanProcessors = append(o.spanProcessors, sp) }
}

// WithMetricReader registers a reader on the MeterProvider. This is the seam
// for the Prometheus exporter (itself an sdkmetric.Reader); tests pass a
// sdkmetric.NewManualReader. Without a reader, instruments record nothing.
func WithMetricReader(r sdkmetric.Reader) Option {
	return func(o *options) { o.metricReaders = append(o.metricReaders, r) }
}

// Telemetry holds the providers. The exported fields are the API interfaces
// that instrumentation (otelconnect, clients) takes; the SDK types stay
// unexported so only Shutdown can stop them.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	// Resource describes this process; exporters added later reuse it.
	Resource *resource.Resource

	tracer   *sdktrace.TracerProvider
	meter    *sdkmetric.MeterProvider
	registry *prometheus.Registry
	metrics  http.Handler

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds the SDK providers: traces sampled parent-based with
// always-sample at the root (a sampled caller is always honoured, and we are
// far from the volume where root sampling matters), W3C TraceContext and
// Baggage propagation, and a resource carrying service.name,
// service.instance.id and service.version. Metrics are always exported
// through a Prometheus reader (see MetricsHandler); traces go to an OTLP
// collector when Config.OTLPEndpoint is set.
func New(ctx context.Context, cfg Config, opts ...Option) (*Telemetry, error) {
	if cfg.ServiceName == "" {
		return nil, errors.New("telemetry: Config.ServiceName is required")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}

	attrs := []attribute.KeyValue{semconv.ServiceName(cfg.ServiceName)}
	if cfg.InstanceID != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(cfg.InstanceID))
	}
	if cfg.Version != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.Version))
	}
	// No WithFromEnv: only cmd/ reads the environment.
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	}
	if cfg.OTLPEndpoint != "" {
		traces, err := otlpURL(cfg.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		// The exporter connects lazily: an unreachable collector costs
		// dropped batches (reported through the otel error handler), never
		// a failed start.
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(traces))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP trace exporter: %w", err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	for _, sp := range o.spanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	// Every Telemetry gets its own Prometheus registry (never the global
	// default), so several servers in one process export only their own
	// series.
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("telemetry: register go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("telemetry: register process collector: %w", err)
	}
	promExporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}

	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	for _, r := range o.metricReaders {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)

	return &Telemetry{
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Resource:       res,
		tracer:         tp,
		meter:          mp,
		registry:       reg,
		metrics:        promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}, nil
}

// MetricsHandler serves this instance's metrics in the Prometheus text
// exposition format (mount it at /metrics): everything recorded through
// MeterProvider (otelconnect's RPC metrics, domain instruments) plus the Go
// runtime and process collectors, from a registry private to this Telemetry.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Gatherer is the registry MetricsHandler serves, for a handler that serves
// several instances' metrics together (the process's admin listener).
func (t *Telemetry) Gatherer() prometheus.Gatherer { return t.registry }

// Shutdown flushes and stops both providers; spans and metrics recorded
// afterwards are dropped. It is safe to call more than once: later calls
// return the first result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		t.shutdownErr = errors.Join(t.tracer.Shutdown(ctx), t.meter.Shutdown(ctx))
		if t.shutdownErr != nil {
			t.shutdownErr = fmt.Errorf("telemetry: shutdown: %w", t.shutdownErr)
		}
	})
	return t.shutdownErr
}
