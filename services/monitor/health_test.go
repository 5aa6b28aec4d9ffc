package monitor

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/registry"
)

// fakeSource is a registry stand-in the test edits directly.
type fakeSource struct {
	mu    sync.Mutex
	insts []registry.Instance
	ch    chan struct{}
}

func newFakeSource(insts ...registry.Instance) *fakeSource {
	return &fakeSource{insts: insts, ch: make(chan struct{}, 1)}
}

func (f *fakeSource) All() []registry.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]registry.Instance(nil), f.insts...)
}

func (f *fakeSource) Changes() (<-chan struct{}, func()) { return f.ch, func() {} }

func (f *fakeSource) set(insts ...registry.Instance) {
	f.mu.Lock()
	f.insts = insts
	f.mu.Unlock()
	select {
	case f.ch <- struct{}{}:
	default:
	}
}

// fakeProbe answers per instance id: "serving", "not", or an error.
type fakeProbe struct {
	mu      sync.Mutex
	answers map[string]string
}

func (p *fakeProbe) set(id, answer string) {
	p.mu.Lock()
	p.answers[id] = answer
	p.mu.Unlock()
}

func (p *fakeProbe) probe(_ context.Context, inst registry.Instance) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.answers[inst.ID] {
	case "serving":
		return true, nil
	case "not":
		return false, nil
	}
	return false, errors.New("connection refused")
}

func inst(service, id string) registry.Instance {
	return registry.Instance{Service: service, ID: id, Address: "127.0.0.1:1", StartTime: time.Unix(1, 0)}
}

// waitFor receives changes until match returns true.
func waitFor(t *testing.T, sub *Subscription, what string, match func(Change) bool) Change {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case c := <-sub.C():
			if match(c) {
				return c
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestHealthView(t *testing.T) {
	src := newFakeSource(inst("upload", "u1"))
	probe := &fakeProbe{answers: map[string]string{"u1": "serving", "a1": "not"}}
	hv := NewHealthView(HealthConfig{Services: []string{"auth", "upload"}, Interval: 20 * time.Millisecond}, src, probe.probe, slog.New(slog.DiscardHandler))
	sub := hv.Subscribe("")
	defer sub.Close()

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- hv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	waitFor(t, sub, "u1 added", func(c Change) bool { return c.Kind == ChangeAdded && c.Instance.Instance.ID == "u1" })
	waitFor(t, sub, "u1 serving", func(c Change) bool {
		return c.Kind == ChangeUpdated && c.Instance.Instance.ID == "u1" && c.Instance.Status == StatusServing
	})

	// auth has no instance: NOT_SERVING, and so is the system.
	snap := hv.Snapshot("")
	if len(snap.Services) != 2 || snap.Services[0].Service != "auth" || snap.Services[0].Status != StatusNotServing {
		t.Fatalf("snapshot services = %+v, want auth NOT_SERVING first", snap.Services)
	}
	if snap.Status != StatusNotServing {
		t.Errorf("system status = %v, want NOT_SERVING while auth has no instance", snap.Status)
	}

	// An auth instance that reports NOT_SERVING, then serves.
	src.set(inst("upload", "u1"), inst("auth", "a1"))
	waitFor(t, sub, "a1 not serving", func(c Change) bool {
		return c.Instance.Instance.ID == "a1" && c.Instance.Status == StatusNotServing && c.Instance.LastError == "reported NOT_SERVING"
	})
	probe.set("a1", "serving")
	waitFor(t, sub, "a1 serving", func(c Change) bool { return c.Instance.Instance.ID == "a1" && c.Instance.Status == StatusServing })
	if got := hv.Snapshot("").Status; got != StatusServing {
		t.Errorf("system status = %v, want SERVING", got)
	}

	// A probe failure makes the instance UNKNOWN and counts failures.
	probe.set("u1", "down")
	c := waitFor(t, sub, "u1 unknown", func(c Change) bool { return c.Instance.Instance.ID == "u1" && c.Instance.Status == StatusUnknown })
	if c.Instance.ConsecutiveFailures != 1 || c.Instance.LastError != "connection refused" {
		t.Errorf("u1 after a failed probe = %+v", c.Instance)
	}
	if got := hv.ServiceStatus("upload"); got != StatusUnknown {
		t.Errorf("upload status = %v, want UNKNOWN", got)
	}

	// Deregistration removes the instance.
	src.set(inst("auth", "a1"))
	waitFor(t, sub, "u1 removed", func(c Change) bool { return c.Kind == ChangeRemoved && c.Instance.Instance.ID == "u1" })
	if got := hv.Snapshot("upload"); len(got.Services) != 1 || len(got.Services[0].Instances) != 0 {
		t.Errorf("filtered snapshot = %+v, want upload with no instance", got.Services)
	}
}

// TestSlowSubscriberResyncs: a subscriber that stops reading is marked
// behind instead of blocking the view, and resynchronizes with a snapshot.
func TestSlowSubscriberResyncs(t *testing.T) {
	hv := NewHealthView(HealthConfig{}, newFakeSource(), (&fakeProbe{answers: map[string]string{}}).probe, slog.New(slog.DiscardHandler))
	sub := hv.Subscribe("")
	defer sub.Close()
	hv.mu.Lock()
	for range subscriptionBuffer + 10 {
		hv.publishLocked(Change{Kind: ChangeUpdated})
	}
	hv.mu.Unlock()
	if !sub.TakeBehind() {
		t.Fatal("subscriber not marked behind after overflowing its buffer")
	}
	if sub.TakeBehind() {
		t.Error("TakeBehind did not clear the flag")
	}
}

func TestStatusRollup(t *testing.T) {
	tests := []struct {
		in            []Status
		service, syst Status
	}{
		{nil, StatusNotServing, StatusServing},
		{[]Status{StatusUnknown, StatusServing}, StatusServing, StatusUnknown},
		{[]Status{StatusUnknown, StatusNotServing}, StatusUnknown, StatusNotServing},
		{[]Status{StatusNotServing}, StatusNotServing, StatusNotServing},
	}
	for _, tt := range tests {
		if got := serviceStatus(tt.in); got != tt.service {
			t.Errorf("serviceStatus(%v) = %v, want %v", tt.in, got, tt.service)
		}
		if got := systemStatus(tt.in); got != tt.syst {
			t.Errorf("systemStatus(%v) = %v, want %v", tt.in, got, tt.syst)
		}
	}
}
