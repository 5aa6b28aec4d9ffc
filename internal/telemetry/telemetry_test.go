package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/streamgate/streamgate/internal/telemetry"
)

func newTelemetry(t *testing.T, opts ...telemetry.Option) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.New(t.Context(), telemetry.Config{
		ServiceName: "streamgate",
		InstanceID:  "instance-1",
		Version:     "v1.2.3",
	}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func TestNewRequiresServiceName(t *testing.T) {
	if _, err := telemetry.New(t.Context(), telemetry.Config{}); err == nil {
		t.Fatal("New with empty ServiceName: got nil error, want one")
	}
}

func wantResource(t *testing.T, res *resource.Resource) {
	t.Helper()
	for key, want := range map[attribute.Key]string{
		"service.name":        "streamgate",
		"service.instance.id": "instance-1",
		"service.version":     "v1.2.3",
	} {
		got, ok := res.Set().Value(key)
		if !ok || got.AsString() != want {
			t.Errorf("resource %s = %q (present %v), want %q", key, got.AsString(), ok, want)
		}
	}
}

func TestTracesCarryResourceAndSampleParentBased(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel := newTelemetry(t, telemetry.WithSpanProcessor(rec))
	tracer := tel.TracerProvider.Tracer("test")

	_, root := tracer.Start(t.Context(), "root")
	root.End()
	if !root.SpanContext().IsSampled() {
		t.Error("root span not sampled, want always-sample at the root")
	}

	// A caller that chose not to sample is honoured.
	unsampledParent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true,
	})
	_, child := tracer.Start(trace.ContextWithRemoteSpanContext(t.Context(), unsampledParent), "child")
	child.End()
	if child.SpanContext().IsSampled() {
		t.Error("child of an unsampled parent is sampled, want parent-based sampling")
	}

	ended := rec.Ended()
	if len(ended) != 1 || ended[0].Name() != "root" {
		t.Fatalf("recorded %d spans, want just root", len(ended))
	}
	wantResource(t, ended[0].Resource())
}

func TestMetricsGoToTheReader(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tel := newTelemetry(t, telemetry.WithMetricReader(reader))
	counter, err := tel.MeterProvider.Meter("test").Int64Counter("uploads")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(t.Context(), 2)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	wantResource(t, rm.Resource)
	if len(rm.ScopeMetrics) != 1 || len(rm.ScopeMetrics[0].Metrics) != 1 {
		t.Fatalf("collected %+v, want one metric", rm.ScopeMetrics)
	}
	sum, ok := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64])
	if !ok || len(sum.DataPoints) != 1 || sum.DataPoints[0].Value != 2 {
		t.Fatalf("uploads = %+v, want a sum of 2", rm.ScopeMetrics[0].Metrics[0].Data)
	}
}

func TestPropagatorIsW3C(t *testing.T) {
	tel := newTelemetry(t)
	got := tel.Propagator.Fields()
	want := map[string]bool{"traceparent": true, "tracestate": true, "baggage": true}
	if len(got) != len(want) {
		t.Fatalf("propagator fields = %v, want %v", got, want)
	}
	for _, f := range got {
		if !want[f] {
			t.Errorf("unexpected propagator field %q", f)
		}
	}

	member, _ := baggage.NewMember("user", "0xabc")
	bag, _ := baggage.New(member)
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{2}, SpanID: trace.SpanID{3}, TraceFlags: trace.FlagsSampled,
	})
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(t.Context(), parent), bag)
	carrier := propagation.MapCarrier{}
	tel.Propagator.Inject(ctx, carrier)
	out := tel.Propagator.Extract(context.Background(), carrier)
	if got := trace.SpanContextFromContext(out).TraceID(); got != parent.TraceID() {
		t.Errorf("extracted trace id %v, want %v", got, parent.TraceID())
	}
	if got := baggage.FromContext(out).Member("user").Value(); got != "0xabc" {
		t.Errorf("extracted baggage user=%q, want 0xabc", got)
	}
}

func TestShutdownIsIdempotent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel, err := telemetry.New(t.Context(), telemetry.Config{ServiceName: "streamgate"},
		telemetry.WithSpanProcessor(rec), telemetry.WithMetricReader(sdkmetric.NewManualReader()))
	if err != nil {
		t.Fatal(err)
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("first Shutdown: %v", err)
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "late")
	span.End()
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans recorded after Shutdown, want 0", n)
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestMetricsHandlerServesOwnRegistry(t *testing.T) {
	a := newTelemetry(t)
	b := newTelemetry(t)
	counter, err := a.MeterProvider.Meter("test").Int64Counter("sg_test_things", metric.WithDescription("things"))
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(t.Context(), 3, metric.WithAttributes(attribute.String("kind", "x")))
	counter.Add(t.Context(), 2, metric.WithAttributes(attribute.String("kind", "x")))

	body := scrape(t, a.MetricsHandler())
	want := `sg_test_things_total{kind="x",otel_scope_name="test"`
	var found bool
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, want) {
			found = true
			if !strings.HasSuffix(line, " 5") {
				t.Errorf("counter line %q, want value 5", line)
			}
		}
	}
	if !found {
		t.Fatalf("scrape lacks %s:\n%s", want, body)
	}
	if !strings.Contains(body, `target_info{`) || !strings.Contains(body, `service_instance_id="instance-1"`) {
		t.Errorf("scrape lacks target_info with the resource")
	}
	if !strings.Contains(body, "go_goroutines") {
		t.Errorf("scrape lacks the Go runtime collector")
	}
	if other := scrape(t, b.MetricsHandler()); strings.Contains(other, "sg_test_things") {
		t.Errorf("second Telemetry's registry shows the first one's metric")
	}
}
