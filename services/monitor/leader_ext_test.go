package monitor_test

import (
	"context"
	"testing"
	"time"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/election"
	"github.com/streamgate/streamgate/internal/etcdserver/etcdservertest"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/monitor"
)

// TestOneNotifierAcrossMonitors: two monitors see the same outage, but only
// the elected one announces it; when it stops, the other takes over and
// announces the recovery.
func TestOneNotifierAcrossMonitors(t *testing.T) {
	_, etcd := etcdservertest.Start(t)
	_, bus := eventstest.Bus(t)
	got := eventstest.Collect[*eventsv1.AlertTransitioned](t, bus, "test-one-notifier")

	src := &oneInstance{inst: []registry.Instance{{Service: "upload", ID: "up-1", Address: "127.0.0.1:1"}}}
	probe := &switchProbe{}
	start := func(name string) (stop func()) {
		svc, err := monitor.New(monitor.Config{
			Services:      []string{"upload"},
			ProbeInterval: 50 * time.Millisecond,
			Alerts:        monitor.AlertRules{InstanceDownFor: 200 * time.Millisecond, Interval: 50 * time.Millisecond},
		}, src, probe.probe, testLogger(t), monitor.WithBus(bus), monitor.WithNotifyLeader(etcd, name))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		stopped := false
		stop = func() {
			if !stopped {
				stopped = true
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run %s: %v", name, err)
				}
			}
		}
		t.Cleanup(stop)
		return stop
	}
	leader := func(want string) func() bool {
		return func() bool {
			name, err := election.Leader(t.Context(), etcd, monitor.NotifyElection)
			return err == nil && name == want
		}
	}
	stopA := start("monitor-a")
	poll.Until(t, 10*time.Second, "monitor-a leads", leader("monitor-a"))
	start("monitor-b")

	collect := func(what string, firing bool) {
		t.Helper()
		seen := map[string]int{}
		deadline := time.After(30 * time.Second)
		for len(seen) < 2 {
			select {
			case e := <-got:
				if e.GetFiring() != firing {
					t.Fatalf("%s: got %v", what, e)
				}
				seen[e.GetRuleName()]++
			case <-deadline:
				t.Fatalf("%s: announced %v, want instance_down and service_down", what, seen)
			}
		}
		// A second monitor announcing too would show up well within this.
		quiet := time.After(1500 * time.Millisecond)
		for {
			select {
			case e := <-got:
				t.Fatalf("%s: announced again: %v (seen %v)", what, e, seen)
			case <-quiet:
				return
			}
		}
	}

	probe.set(true) // the instance stops answering: both monitors fire
	collect("outage", true)

	stopA() // the leader goes; B is elected once A resigns
	poll.Until(t, 10*time.Second, "monitor-b leads", leader("monitor-b"))
	probe.set(false)
	collect("recovery", false)
}
