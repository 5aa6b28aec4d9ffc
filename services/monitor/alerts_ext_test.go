package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/monitor"
)

// switchProbe answers SERVING until stopped.
type switchProbe struct {
	mu      sync.Mutex
	stopped bool
}

func (p *switchProbe) set(stopped bool) {
	p.mu.Lock()
	p.stopped = stopped
	p.mu.Unlock()
}

func (p *switchProbe) probe(context.Context, registry.Instance) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false, errors.New("connection refused")
	}
	return true, nil
}

func TestInstanceDownAlertFiresAndResolves(t *testing.T) {
	src := &oneInstance{inst: []registry.Instance{{Service: "upload", ID: "up-1", Address: "127.0.0.1:1"}}}
	probe := &switchProbe{}
	svc, err := monitor.New(monitor.Config{
		Services:      []string{"upload"},
		ProbeInterval: 50 * time.Millisecond,
		Alerts:        monitor.AlertRules{InstanceDownFor: 200 * time.Millisecond, Interval: 50 * time.Millisecond},
	}, src, probe.probe, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	client := startMonitor(t, svc)
	list := func(state monitorv1.AlertState) *monitorv1.ListAlertsResponse {
		res, err := client.ListAlerts(t.Context(), connect.NewRequest(&monitorv1.ListAlertsRequest{State: state}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg
	}
	if res := list(0); len(res.GetAlerts()) != 0 {
		t.Fatalf("alerts before any failure: %v", res.GetAlerts())
	}

	// The health stream carries the transitions as they happen.
	watchCtx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	stream, err := client.WatchSystemHealth(watchCtx, connect.NewRequest(&monitorv1.WatchSystemHealthRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	transitions := make(chan string, 16)
	go func() {
		defer close(transitions)
		for stream.Receive() {
			if a := stream.Msg().GetAlert(); a != nil {
				transitions <- stream.Msg().GetChangeType().String() + " " + a.GetRuleName()
			}
		}
	}()

	probe.set(true) // stop the instance
	var fired time.Time
	poll.UntilNil(t, 30*time.Second, "instance_down and service_down fire", func() error {
		res := list(monitorv1.AlertState_ALERT_STATE_FIRING)
		if res.GetFiringCount() != 2 {
			return fmt.Errorf("firing %d: %v", res.GetFiringCount(), res.GetAlerts())
		}
		rules := map[string]*monitorv1.Alert{}
		for _, a := range res.GetAlerts() {
			rules[a.GetRuleName()] = a
		}
		a := rules["instance_down"]
		if a == nil || rules["service_down"] == nil {
			t.Fatalf("rules %v", res.GetAlerts())
		}
		if a.GetLabels()["instance_id"] != "up-1" || a.GetValue() < a.GetThreshold() || a.GetEndTime() != nil || a.GetSeverity() != monitorv1.AlertSeverity_ALERT_SEVERITY_WARNING {
			t.Errorf("instance_down alert: %v", a)
		}
		fired = a.GetStartTime().AsTime()
		return nil
	})

	probe.set(false) // bring it back
	poll.UntilNil(t, 30*time.Second, "alerts resolve", func() error {
		res := list(0)
		if res.GetFiringCount() != 0 || len(res.GetAlerts()) != 2 {
			return fmt.Errorf("firing %d: %v", res.GetFiringCount(), res.GetAlerts())
		}
		for _, a := range res.GetAlerts() {
			if a.GetState() != monitorv1.AlertState_ALERT_STATE_RESOLVED || a.GetEndTime() == nil || a.GetEndTime().AsTime().Before(fired) {
				t.Errorf("resolved alert: %v", a)
			}
		}
		return nil
	})
	if res := list(monitorv1.AlertState_ALERT_STATE_FIRING); len(res.GetAlerts()) != 0 {
		t.Errorf("firing filter: %v", res.GetAlerts())
	}
	want := map[string]bool{
		"HEALTH_CHANGE_TYPE_ALERT_FIRED instance_down": true, "HEALTH_CHANGE_TYPE_ALERT_FIRED service_down": true,
		"HEALTH_CHANGE_TYPE_ALERT_RESOLVED instance_down": true, "HEALTH_CHANGE_TYPE_ALERT_RESOLVED service_down": true,
	}
	for len(want) > 0 {
		select {
		case tr, ok := <-transitions:
			if !ok {
				t.Fatalf("health stream ended (%v) still waiting for %v", stream.Err(), want)
			}
			if !want[tr] {
				t.Errorf("unexpected transition on the health stream: %s", tr)
			}
			delete(want, tr)
		case <-time.After(10 * time.Second):
			t.Fatalf("health stream: no alert transitions %v", want)
		}
	}

	// Paging and bad input.
	res, err := client.ListAlerts(t.Context(), connect.NewRequest(&monitorv1.ListAlertsRequest{PageSize: 1}))
	if err != nil || len(res.Msg.GetAlerts()) != 1 || res.Msg.GetNextPageToken() == "" {
		t.Fatalf("page 1: %v %v", res, err)
	}
	res2, err := client.ListAlerts(t.Context(), connect.NewRequest(&monitorv1.ListAlertsRequest{PageSize: 1, PageToken: res.Msg.GetNextPageToken()}))
	if err != nil || len(res2.Msg.GetAlerts()) != 1 || res2.Msg.GetNextPageToken() != "" || res2.Msg.GetAlerts()[0].GetId() == res.Msg.GetAlerts()[0].GetId() {
		t.Fatalf("page 2: %v %v", res2, err)
	}
	for _, req := range []*monitorv1.ListAlertsRequest{{PageSize: -1}, {PageToken: "x"}, {State: 9}} {
		if _, err := client.ListAlerts(t.Context(), connect.NewRequest(req)); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", req, err)
		}
	}
}
