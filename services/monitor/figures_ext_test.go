package monitor_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/telemetry/telemetrytest"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/memory"
	"github.com/streamgate/streamgate/services/monitor"
)

// TestGetMetricsFiguresFromARealInstance scrapes a real cache service's
// /metrics (its own instruments through the Prometheus exporter) and
// reports its hit ratio as a figure.
func TestGetMetricsFiguresFromARealInstance(t *testing.T) {
	tel := telemetrytest.New(t, "cache")
	backend, err := memory.New(memory.Config{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Config{}, backend, tel.MeterProvider, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	mux := http.NewServeMux()
	mux.Handle("/metrics", tel.MetricsHandler())
	instance := httptest.NewServer(mux)
	t.Cleanup(instance.Close)

	// Registered without an admin address (a release before it), the
	// instance is scraped at its own address.
	src := &oneInstance{inst: []registry.Instance{{Service: "cache", ID: "cache-1", Address: strings.TrimPrefix(instance.URL, "http://")}}}
	svc, err := monitor.New(monitor.Config{Services: []string{"cache", "monitor"}, MetricsScrapeInterval: 50 * time.Millisecond},
		src, noProbe, testLogger(t), monitor.WithMetricsClient(http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	path, h := svc.Handler()
	api := http.NewServeMux()
	api.Handle(path, h)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	client := monitorv1connect.NewMonitorServiceClient(srv.Client(), srv.URL)

	figures := func() map[string]float64 {
		res, err := client.GetMetrics(t.Context(), connect.NewRequest(&monitorv1.GetMetricsRequest{Service: "cache", Window: durationpb.New(time.Minute)}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Msg.GetServices()) != 1 {
			return nil
		}
		return res.Msg.GetServices()[0].GetFigures()
	}
	// The first scrapes see no traffic: no ratio yet.
	poll.UntilNil(t, 30*time.Second, "a successful scrape", func() error {
		res, err := client.GetMetrics(t.Context(), connect.NewRequest(&monitorv1.GetMetricsRequest{Service: "cache"}))
		if err != nil || len(res.Msg.GetServices()) != 1 || res.Msg.GetServices()[0].GetInstanceCount() != 1 {
			return fmt.Errorf("no sample yet (%v)", err)
		}
		return nil
	})
	if _, ok := figures()["cache_hit_ratio"]; ok {
		t.Errorf("a hit ratio before any read: %v", figures())
	}

	// 3 hits and 1 miss.
	if _, err := c.Set(t.Context(), "test.ns", "k", []byte("v"), cache.SetOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"k", "k", "k", "absent"} {
		if _, _, err := c.Get(t.Context(), "test.ns", key); err != nil {
			t.Fatal(err)
		}
	}
	poll.UntilNil(t, 30*time.Second, "the hit ratio", func() error {
		f := figures()
		if r, ok := f["cache_hit_ratio"]; !ok || math.Abs(r-0.75) > 1e-9 {
			return fmt.Errorf("figures %v, want cache_hit_ratio 0.75", f)
		}
		return nil
	})
}
