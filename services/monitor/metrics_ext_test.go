package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"google.golang.org/protobuf/types/known/durationpb"

	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/telemetry"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/monitor"
)

type oneInstance struct {
	mu   sync.Mutex
	inst []registry.Instance
}

func (o *oneInstance) All() []registry.Instance {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]registry.Instance(nil), o.inst...)
}
func (o *oneInstance) Changes() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

// TestGetMetricsScrapesInstances runs a monitor instrumented by otelconnect
// with its /metrics on the same listener, registered as the only instance:
// it scrapes itself.
func TestGetMetricsScrapesInstances(t *testing.T) {
	tel, err := telemetry.New(t.Context(), telemetry.Config{ServiceName: "streamgate", InstanceID: "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	src := &oneInstance{}
	svc, err := monitor.New(monitor.Config{Services: []string{"monitor"}, MetricsScrapeInterval: 50 * time.Millisecond},
		src, noProbe, testLogger(t), monitor.WithMetricsClient(http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	otel, err := otelconnect.NewInterceptor(otelconnect.WithMeterProvider(tel.MeterProvider), otelconnect.WithTracerProvider(tel.TracerProvider))
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in for a failing dependency: GetChainStatus answers Internal.
	failing := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if req.Spec().Procedure == monitorv1connect.MonitorServiceGetChainStatusProcedure {
				return nil, connect.NewError(connect.CodeInternal, errors.New("injected"))
			}
			return next(ctx, req)
		}
	})
	path, h := svc.Handler(connect.WithInterceptors(otel, failing))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// The metrics are on the process's admin listener, under the service's
	// name, not on the service's own.
	adminMux := http.NewServeMux()
	adminMux.Handle("/metrics/monitor", tel.MetricsHandler())
	adminSrv := httptest.NewServer(adminMux)
	t.Cleanup(adminSrv.Close)
	src.mu.Lock()
	src.inst = []registry.Instance{{Service: "monitor", ID: "m-1", Address: strings.TrimPrefix(srv.URL, "http://"), Admin: strings.TrimPrefix(adminSrv.URL, "http://")}}
	src.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	client := monitorv1connect.NewMonitorServiceClient(srv.Client(), srv.URL)

	// Traffic: 3 answered calls and 1 server fault.
	for range 3 {
		if _, err := client.GetSystemHealth(t.Context(), connect.NewRequest(&monitorv1.GetSystemHealthRequest{})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.GetChainStatus(t.Context(), connect.NewRequest(&monitorv1.GetChainStatusRequest{})); connect.CodeOf(err) != connect.CodeInternal {
		t.Fatalf("GetChainStatus: %v", err)
	}

	poll.UntilNil(t, 30*time.Second, "metrics summary", func() error {
		res, err := client.GetMetrics(t.Context(), connect.NewRequest(&monitorv1.GetMetricsRequest{Service: "monitor", Window: durationpb.New(time.Minute)}))
		if err != nil {
			return err
		}
		if len(res.Msg.GetServices()) != 1 {
			return fmt.Errorf("services %v", res.Msg.GetServices())
		}
		m := res.Msg.GetServices()[0]
		// GetMetrics calls count too, so only lower bounds hold.
		if m.GetRequestsPerSecond() <= 0 || m.GetErrorRatio() <= 0 || m.GetErrorRatio() >= 1 || m.GetLatencyP95() == nil {
			return fmt.Errorf("not yet: %v", m)
		}
		if m.GetInstanceCount() != 1 || m.GetLatencyP50().AsDuration() > m.GetLatencyP95().AsDuration() || res.Msg.GetScrapeTime() == nil {
			t.Errorf("summary: %v", res.Msg)
		}
		return nil
	})

	for _, w := range []*durationpb.Duration{durationpb.New(-time.Second), durationpb.New(2 * time.Hour)} {
		_, err := client.GetMetrics(t.Context(), connect.NewRequest(&monitorv1.GetMetricsRequest{Window: w}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("window %v: %v, want InvalidArgument", w.AsDuration(), err)
		}
	}
	_, err = client.GetMetrics(t.Context(), connect.NewRequest(&monitorv1.GetMetricsRequest{Service: "nope"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("unknown service: %v", err)
	}
}
