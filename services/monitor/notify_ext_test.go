package monitor_test

import (
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/services/monitor"
)

// TestAlertTransitionsPublished: an alert that fires and then resolves is
// announced twice on the bus (alert.transitioned), which the worker
// delivers to operator webhooks.
func TestAlertTransitionsPublished(t *testing.T) {
	_, bus := eventstest.Bus(t)
	got := eventstest.Collect[*eventsv1.AlertTransitioned](t, bus, "test-alerts")

	src := &oneInstance{inst: []registry.Instance{{Service: "upload", ID: "up-1", Address: "127.0.0.1:1"}}}
	probe := &switchProbe{}
	svc, err := monitor.New(monitor.Config{
		Services:      []string{"upload"},
		ProbeInterval: 50 * time.Millisecond,
		Alerts:        monitor.AlertRules{InstanceDownFor: 200 * time.Millisecond, Interval: 50 * time.Millisecond},
	}, src, probe.probe, testLogger(t), monitor.WithBus(bus))
	if err != nil {
		t.Fatal(err)
	}
	startMonitor(t, svc)
	next := func() *eventsv1.AlertTransitioned {
		t.Helper()
		select {
		case e := <-got:
			return e
		case <-time.After(30 * time.Second):
			t.Fatal("no alert.transitioned")
			return nil
		}
	}

	probe.set(true) // the instance stops answering
	fired := map[string]*eventsv1.AlertTransitioned{}
	for range 2 {
		e := next()
		fired[e.GetRuleName()] = e
	}
	a := fired["service_down"]
	if a == nil || fired["instance_down"] == nil {
		t.Fatalf("fired %v, want instance_down and service_down", fired)
	}
	if !a.GetFiring() || a.GetSeverity() != "critical" || a.GetLabels()["service"] != "upload" || a.GetEndTime() != nil ||
		a.GetEventId() != "alert.transitioned:"+a.GetAlertId()+":firing" || !strings.Contains(a.GetSummary(), "upload") {
		t.Errorf("firing event = %v", a)
	}

	probe.set(false) // back
	for range 2 {
		e := next()
		f := fired[e.GetRuleName()]
		if e.GetFiring() || f == nil || e.GetAlertId() != f.GetAlertId() || e.GetEndTime() == nil ||
			e.GetEventId() != "alert.transitioned:"+f.GetAlertId()+":resolved" {
			t.Errorf("resolved event = %v", e)
		}
	}
	select {
	case e := <-got:
		t.Errorf("extra event %v: a firing alert is announced once", e)
	case <-time.After(300 * time.Millisecond):
	}
}
