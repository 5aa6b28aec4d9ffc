package admin

import (
	"context"
	"log/slog"
	"testing"

	"connectrpc.com/grpchealth"

	"github.com/streamgate/streamgate/internal/telemetry"
)

// TestGatherMerges: two services of one process export the same metric
// name; the merged view keeps both, told apart by their service label,
// with the runtime series once and no gathering error.
func TestGatherMerges(t *testing.T) {
	s, err := New("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"upload", "auth"} {
		tel, err := telemetry.New(t.Context(), telemetry.Config{ServiceName: name, InstanceID: name + "-1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		c, err := tel.MeterProvider.Meter("test").Int64Counter("streamgate_shared")
		if err != nil {
			t.Fatal(err)
		}
		c.Add(t.Context(), 1)
		s.Add(Target{Name: name, ServiceName: "x." + name, Health: grpchealth.NewStaticChecker("x." + name), Metrics: tel.Gatherer()})
	}
	fams, err := s.gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	services := map[string]bool{}
	for _, f := range fams {
		switch f.GetName() {
		case "streamgate_shared_total":
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == ServiceLabel {
						services[l.GetValue()] = true
					}
				}
			}
		case "go_goroutines":
			if n := len(f.GetMetric()); n != 1 || len(f.GetMetric()[0].GetLabel()) != 0 {
				t.Errorf("go_goroutines: %d series, labels %v", n, f.GetMetric()[0].GetLabel())
			}
		}
	}
	if !services["upload"] || !services["auth"] {
		t.Errorf("streamgate_shared_total of services %v, want upload and auth", services)
	}
}

// TestHealthFollowsServicesAndDrain: the process is SERVING only when every
// service is, and NOT_SERVING for good once draining.
func TestHealthFollowsServicesAndDrain(t *testing.T) {
	s, err := New("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	up, down := grpchealth.NewStaticChecker("x.Up"), grpchealth.NewStaticChecker("x.Down")
	down.SetStatus("x.Down", grpchealth.StatusNotServing)
	s.Add(Target{Name: "up", ServiceName: "x.Up", Health: up})
	s.Add(Target{Name: "down", ServiceName: "x.Down", Health: down})
	s.Add(Target{Name: "streamgate-node"}) // metrics only: no health
	c := checker{s}
	status := func(svc string) grpchealth.Status {
		t.Helper()
		res, err := c.Check(t.Context(), &grpchealth.CheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("%q: %v", svc, err)
		}
		return res.Status
	}
	if st := status(""); st != grpchealth.StatusNotServing {
		t.Errorf("process with a service down: %v", st)
	}
	if st := status("up"); st != grpchealth.StatusServing {
		t.Errorf("up: %v", st)
	}
	down.SetStatus("x.Down", grpchealth.StatusServing)
	if st := status(""); st != grpchealth.StatusServing {
		t.Errorf("process with every service up: %v", st)
	}
	if _, err := c.Check(t.Context(), &grpchealth.CheckRequest{Service: "streamgate-node"}); err == nil {
		t.Error("a metrics-only target answers health")
	}
	s.Drain()
	for _, svc := range []string{"", "up", "x.Down"} {
		if st := status(svc); st != grpchealth.StatusNotServing {
			t.Errorf("%q while draining: %v", svc, st)
		}
	}
}
